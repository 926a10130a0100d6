// The page's elements and the few things every view writes: element
// creation, the connection state in the header, the notice line.

export const $ = (sel) => document.querySelector(sel);

export const el = (tag, props, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
};

// setConn shows the connection state; label is a prefix a phone-width
// screen leaves out (CSS) to keep the header on one line.
export function setConn(text, error, label) {
  const c = $('#conn');
  c.replaceChildren(el('span', { className: 'label' }, label || ''), text);
  c.classList.toggle('error', Boolean(error));
}

export function notice(text, error) {
  const n = $('#notice');
  n.hidden = !text;
  n.textContent = text || '';
  n.classList.toggle('error', Boolean(error));
}

export function hideViews() {
  $('#list').hidden = true;
  $('#device').hidden = true;
  $('#alerts').hidden = true;
}

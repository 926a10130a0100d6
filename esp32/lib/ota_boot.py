# Switching firmware versions, run by main.py before the application is
# imported, and rolling back when the new version fails. It depends on
# nothing but os and json, and no release may replace it (nor main.py or
# boot.py, see fleet.py's allowed_path): whatever a release breaks, this code still runs and
# can put the previous files back.
#
# Files under <root>ota/ (written by fleet.py while downloading):
#   <V>/<path>      the release's verified files, staged
#   <V>.json        its manifest
#   next            {"version", "deadline"}: written last, when all is staged
# and by this module:
#   switch.json     the switch under way: version, from, files, new (the
#                   paths the previous version did not have)
#   prev/<path>     the previous version's files, moved aside by the switch
#                   (prev/ca.next.pem: a CA an earlier release left waiting)
#   rollback.json   the rollback under way (the switch record and a reason)
#   state.json      current version, the trial of a new one, and the last
#                   update's outcome as reported to the server
#
# Every step can be cut by a power loss and is done again at the next boot:
# each file moves by a rename (atomic on littlefs), a step checks what is
# already in place before it acts, and the records are written by temp file
# + rename and removed in the order that leaves the next boot a record of
# what remains to do. Until switch.json exists nothing has moved (the old
# version boots); after it, the switch is finished or undone at every boot.
import json
import os

CA_NEXT = "ca.next.pem"  # where a release's ca.pem waits (httpclient)
messages = []  # what the boot did, for the application's log


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _makedirs(path):
    cur = ""
    for part in path.split("/"):
        if part:
            cur += "/" + part
            if not _exists(cur):
                os.mkdir(cur)


def _parent(path):
    return path[:path.rfind("/")] or "/"


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _drop(path):
    # A record and the temp copy a reset may have left of it (read_json
    # takes a whole temp copy for the record).
    _remove(path + ".tmp")
    _remove(path)


def rmtree(path):
    if not _is_dir(path):
        _remove(path)
        return
    for name in os.listdir(path):
        rmtree(path + "/" + name)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _replace(src, dst):
    try:
        os.rename(src, dst)
    except OSError:
        # FAT cannot rename over an existing file.
        _remove(dst)
        os.rename(src, dst)


def read_json(path):
    for p in (path, path + ".tmp"):
        try:
            with open(p) as f:
                v = json.load(f)
            if isinstance(v, dict):
                return v
        except (OSError, ValueError):
            pass  # missing or torn: the temp copy, if whole, is the newer one
    return None


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    _replace(tmp, path)


def _ota(root, name=""):
    return root + "ota/" + name


def state(root="/"):
    s = read_json(_ota(root, "state.json")) or {}
    s.setdefault("current", None)
    s.setdefault("trial", None)
    s.setdefault("update", {"state": "idle", "version": None, "reason": None})
    return s


def _save(root, s):
    _makedirs(_ota(root))
    write_json(_ota(root, "state.json"), s)


def running_version(factory, root="/"):
    """The version that runs: the last one switched to, else the one the
    board was flashed with (factory)."""
    return state(root)["current"] or factory


def _dst(root, path):
    return root + (CA_NEXT if path == "ca.pem" else path)


def boot(root="/"):
    """Finish a rollback or a switch that a reset interrupted, start the
    switch a finished download asked for, or count a boot of a version on
    trial. Never raises: the application must start whatever happens."""
    try:
        rb = read_json(_ota(root, "rollback.json"))
        if rb is not None:
            _finish_rollback(root, rb)
            return
        rec = read_json(_ota(root, "switch.json"))
        if rec is not None:
            _switch(root, rec)
            return
        marker = read_json(_ota(root, "next"))
        if marker is not None:
            _start_switch(root, marker)
            return
        s = state(root)
        t = s["trial"]
        if t:
            t["boots"] = t.get("boots", 0) + 1
            if t["boots"] > t.get("deadline", 3):
                rollback("restarted %d times without delivering a batch" % (t["boots"] - 1), root)
            else:
                _save(root, s)
    except Exception as e:  # a full or failing flash: report, go on
        messages.append("ERROR firmware switch: %s: %s" % (type(e).__name__, e))


def _start_switch(root, marker):
    v = marker.get("version")
    man = read_json(_ota(root, "%s.json" % v))
    files = [f["path"] for f in man["files"]] if man else None
    if not files or any(not _exists(_ota(root, "%s/%s" % (v, p))) for p in files):
        # Nothing has moved yet: the old version stays, the release is refused.
        s = state(root)
        s["update"] = {"state": "refused", "version": v, "reason": "staged files missing at the switch"}
        _save(root, s)
        _drop(_ota(root, "next"))
        messages.append("ERROR firmware %s not installed: staged files missing" % v)
        return
    rmtree(_ota(root, "prev"))  # the version before the previous one
    rec = {"version": v, "from": state(root)["current"], "files": files,
           "new": [p for p in files if p != "ca.pem" and not _exists(_dst(root, p))],
           "twins": _twins(root, files), "deadline": marker.get("deadline", 3)}
    write_json(_ota(root, "switch.json"), rec)
    _switch(root, rec)


def _twin(p):
    # MicroPython imports lib/x.py before lib/x.mpy: the one a release
    # ships must not sit beside the other.
    if p.endswith(".py"):
        return p[:-3] + ".mpy"
    if p.endswith(".mpy"):
        return p[:-4] + ".py"
    return None


def _twins(root, files):
    """The flashed files that would shadow or outlive a release's modules of
    the other kind (x.py beside a released x.mpy, or x.mpy beside x.py)."""
    out = []
    for p in files:
        t = _twin(p)
        if t and t not in files and _exists(root + t):
            out.append(t)
    return out


def _switch(root, rec):
    v = rec["version"]
    try:
        for p in rec.get("twins", ()):
            # Moved aside like a replaced file, and back on a rollback.
            bak = _ota(root, "prev/" + p)
            if _exists(root + p) and not _exists(bak):
                _makedirs(_parent(bak))
                os.rename(root + p, bak)
        for p in rec["files"]:
            staged = _ota(root, "%s/%s" % (v, p))
            if not _exists(staged):
                continue  # moved before the reset
            dst = _dst(root, p)
            _makedirs(_parent(dst))
            if p == "ca.pem" and _exists(dst):
                # A CA an earlier release left waiting stays that release's:
                # kept aside, and put back if this one is rolled back.
                bak = _ota(root, "prev/" + CA_NEXT)
                if not _exists(bak):
                    _makedirs(_parent(bak))
                    os.rename(dst, bak)
            if p != "ca.pem" and _exists(dst):
                bak = _ota(root, "prev/" + p)
                if not _exists(bak):
                    _makedirs(_parent(bak))
                    os.rename(dst, bak)
            _replace(staged, dst)
    except OSError as e:
        messages.append("ERROR firmware %s: switch failed (%s): rolling back" % (v, e))
        _rollback(root, rec, "switch failed: %s" % e)
        return
    s = state(root)
    s["current"] = v
    t = {}
    for k in rec:
        t[k] = rec[k]
    t["boots"] = 0
    t["cycles"] = 0
    s["trial"] = t
    s["update"] = {"state": "installed", "version": v, "reason": None}
    _save(root, s)
    _drop(_ota(root, "next"))
    _drop(_ota(root, "switch.json"))
    _remove(_ota(root, "%s.json" % v))
    rmtree(_ota(root, v))
    messages.append("INFO firmware %s installed (was %s): on trial for %d intervals" % (
        v, rec["from"] or "the flashed one", rec["deadline"]))


def in_trial(root="/"):
    return bool(state(root)["trial"])


def rollback(reason, root="/"):
    """Put the previous version's files back (the version on trial failed).
    False when no version is on trial."""
    t = state(root)["trial"]
    if not t:
        return False
    _rollback(root, t, reason)
    return True


def _rollback(root, rec, reason):
    rb = {}
    for k in ("version", "from", "files", "new"):
        rb[k] = rec[k]
    rb["twins"] = rec.get("twins", [])
    rb["reason"] = reason
    write_json(_ota(root, "rollback.json"), rb)
    _finish_rollback(root, rb)


def _finish_rollback(root, rb):
    for p in rb["files"]:
        if p == "ca.pem":
            continue
        dst = _dst(root, p)
        if p in rb["new"]:
            _remove(dst)
        else:
            bak = _ota(root, "prev/" + p)
            if _exists(bak):
                _replace(bak, dst)
    for p in rb.get("twins", ()):
        bak = _ota(root, "prev/" + p)
        if _exists(bak):
            _replace(bak, root + p)
    # A CA this release brought goes with it (one that verified a send has
    # become ca_cert already and stays); one that an earlier release left
    # waiting comes back. A release without ca.pem leaves the waiting CA
    # alone: it belongs to the version that brought it.
    if "ca.pem" in rb["files"]:
        _remove(root + CA_NEXT)
        bak = _ota(root, "prev/" + CA_NEXT)
        if _exists(bak):
            _replace(bak, root + CA_NEXT)
    s = state(root)
    s["current"] = rb["from"]
    s["trial"] = None
    s["update"] = {"state": "rolled_back", "version": rb["version"], "reason": rb["reason"]}
    _save(root, s)
    _drop(_ota(root, "next"))
    _drop(_ota(root, "switch.json"))
    _remove(_ota(root, "%s.json" % rb["version"]))
    rmtree(_ota(root, rb["version"]))
    _drop(_ota(root, "rollback.json"))
    rmtree(_ota(root, "prev"))
    messages.append("ERROR firmware %s rolled back to %s: %s" % (
        rb["version"], rb["from"] or "the flashed version", rb["reason"]))


def trial_cycle(root="/"):
    """Count one measurement interval of a version on trial. Returns why it
    must be rolled back (it had its deadline's intervals and delivered
    nothing), else None."""
    s = state(root)
    t = s["trial"]
    if not t:
        return None
    if t.get("cycles", 0) >= t.get("deadline", 3):
        return "no batch delivered within %d intervals" % t["cycles"]
    t["cycles"] = t.get("cycles", 0) + 1
    _save(root, s)
    return None


def commit(root="/"):
    """The version on trial delivered: keep it. Returns its version."""
    s = state(root)
    t = s["trial"]
    if not t:
        return None
    s["trial"] = None
    _save(root, s)
    rmtree(_ota(root, "prev"))
    return t["version"]


def set_update(update, root="/"):
    """Record the update outcome reported to the server (fleet.py)."""
    s = state(root)
    s["update"] = update
    _save(root, s)

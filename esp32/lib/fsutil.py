# File-system helpers shared by the modules that keep state on flash (the
# queue, the boot clock). Kept apart so that those modules depend on this
# one, not on each other.
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def replace(src, dst):
    """Put src in place of dst (write a temp file, then replace: the old
    file stays whole until the new one is complete)."""
    try:
        os.rename(src, dst)
    except OSError:
        # FAT cannot rename over an existing file.
        try:
            os.remove(dst)
        except OSError:
            pass
        os.rename(src, dst)


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            continue
        cur += "/" + part
        if not exists(cur):
            os.mkdir(cur)

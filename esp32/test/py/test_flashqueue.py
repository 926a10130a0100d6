# The flash queue: durable across reboots and power cuts, bounded, and it
# never rewrites queued data to send it.
import os

import fw


def _q(cap=100, seg=0):
    import flashqueue
    return flashqueue.FlashQueue("/q", cap=cap, seg_records=seg)


def _drain(q, n=1000):
    got = []
    while True:
        items = q.peek(7)
        if not items:
            break
        got += [r["n"] for r, _ in items]
        q.ack(items[-1][1])
    return got


def test_fifo_order_and_ack_survive_reboot():
    fw.setup()
    q = _q(seg=4)
    for i in range(10):
        q.append({"n": i})
    items = q.peek(3)
    assert [r["n"] for r, _ in items] == [0, 1, 2]
    q.ack(items[-1][1])
    assert q.depth == 7
    q2 = _q(seg=4)  # reboot
    assert q2.depth == 7
    assert q2.boot == q.boot + 1
    assert _drain(q2) == list(range(3, 10))
    assert q2.depth == 0


def test_unacked_batch_is_sent_again_after_reboot():
    fw.setup()
    q = _q()
    for i in range(5):
        q.append({"n": i})
    q.peek(5)  # sent, but the answer never came: no ack
    q2 = _q()
    assert [r["n"] for r, _ in q2.peek(10)] == [0, 1, 2, 3, 4]


def test_torn_last_line_after_power_cut_is_skipped_and_later_appends_survive():
    fw.setup()
    q = _q()
    for i in range(3):
        q.append({"n": i, "pad": "x" * 20})
    seg = "/q/%08d.q" % q.w_seg
    data = open(seg).read()
    # Power cut in the middle of writing reading 3.
    with open(seg, "w") as f:
        f.write(data + '{"n": 3, "pad": "xxx')
    q2 = _q()
    assert q2.depth == 3
    q2.append({"n": 4})
    assert _drain(q2) == [0, 1, 2, 4]


def test_corrupt_line_is_skipped_not_fatal():
    fw.setup()
    q = _q()
    q.append({"n": 0})
    seg = "/q/%08d.q" % q.w_seg
    with open(seg, "a") as f:
        f.write("\x00\x00garbage\n")
    q.append({"n": 1})
    assert _drain(q) == [0, 1]
    assert q.depth == 0


def test_torn_or_missing_ack_file_means_resend_not_crash():
    fw.setup()
    q = _q()
    for i in range(4):
        q.append({"n": i})
    q.ack(q.peek(2)[-1][1])
    with open("/q/ack", "w") as f:
        f.write("12")  # torn
    q2 = _q()
    assert [r["n"] for r, _ in q2.peek(10)] == [0, 1, 2, 3]  # duplicates are harmless
    os.remove("/q/ack")
    q3 = _q()
    assert q3.depth == 4


def test_full_queue_drops_oldest_and_counts_them():
    fw.setup()
    q = _q(cap=20, seg=5)
    for i in range(33):
        q.append({"n": i})
    assert q.depth <= 20
    assert q.dropped == 33 - q.depth
    got = _drain(q)
    assert got == list(range(33 - len(got), 33)), got  # the newest survive, in order
    q2 = _q(cap=20, seg=5)
    assert q2.dropped == 33 - len(got)  # the count survives a reboot


def test_sending_never_rewrites_queued_segments():
    fw.setup()
    q = _q(seg=50)
    for i in range(10):
        q.append({"n": i})
    seg = "/q/%08d.q" % q.w_seg
    before = open(seg).read()
    q.ack(q.peek(4)[-1][1])
    assert open(seg).read() == before  # only the small ack file changed
    ack = open("/q/ack").read()
    assert len(ack) < 40, ack


def test_consumed_segments_are_deleted():
    fw.setup()
    q = _q(seg=3)
    for i in range(10):
        q.append({"n": i})
    segs = sorted(n for n in os.listdir("/q") if n.endswith(".q"))
    assert len(segs) == 4, segs
    _drain(q)
    left = sorted(n for n in os.listdir("/q") if n.endswith(".q"))
    assert len(left) <= 1, left


def test_each_boot_appends_to_a_new_segment():
    fw.setup()
    q = _q()
    q.append({"n": 0})
    q2 = _q()
    q2.append({"n": 1})
    assert q2.w_seg == q.w_seg + 1
    assert _drain(q2) == [0, 1]

# mk_torch_fixture_stdlib.py: writes fixtures/conds_stdlib.pt, a conds.pt-shaped archive in
# torch.save's zip layout (protocol-2 pickle, persistent storage ids, _rebuild_tensor_v2,
# stored entries) using only the standard library, with a stand-in `torch` module so the
# pickle names the same globals. prompt_feat is a view at a storage offset.
# Usage: python3 mk_torch_fixture_stdlib.py OUT.pt
import sys, types, pickle, zipfile, io, struct, collections
torch = types.ModuleType("torch"); tu = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = tu
class FloatStorage: pass
class LongStorage: pass
FloatStorage.__module__ = LongStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage; torch.LongStorage = LongStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; tu._rebuild_tensor_v2 = _rebuild_tensor_v2
class Storage:
    def __init__(s, key, kind, vals): s.key, s.kind, s.vals = key, kind, vals
class T:
    def __init__(s, st, off, shape):
        s.st, s.off, s.shape = st, off, shape
    def __reduce_ex__(s, proto):
        stride = []; acc = 1
        for d in reversed(s.shape): stride.insert(0, acc); acc *= d
        return (_rebuild_tensor_v2, (s.st, s.off, tuple(s.shape), tuple(stride), False, collections.OrderedDict()))
storages = []
def tensor(kind, vals, shape, off=0, pad_after=0):
    st = Storage(str(len(storages)), kind, [0]*off + vals + [0]*pad_after); storages.append(st)
    return T(st, off, shape)
class Pk(pickle.Pickler):
    def persistent_id(s, o):
        if isinstance(o, Storage):
            return ("storage", FloatStorage if o.kind == "f" else LongStorage, o.key, "cpu", len(o.vals))
        return None
P1, P = 40, 30
t3 = {"speaker_emb": tensor("f", [(i - 128) / 256 for i in range(256)], [1, 256]),
      "clap_emb": None,
      "cond_prompt_speech_tokens": tensor("q", [(i * 7) % 6561 for i in range(P1)], [1, P1]),
      "cond_prompt_speech_emb": None,
      "emotion_adv": tensor("f", [0.5], [1, 1, 1])}
gen = {"prompt_token": tensor("q", [(i * 13 + 5) % 6561 for i in range(P)], [1, P]),
       "prompt_token_len": tensor("q", [P], [1]),
       "prompt_feat": tensor("f", [i / 1000 - 3 for i in range(2 * P * 80)], [1, 2 * P, 80], off=7 * 80, pad_after=240),
       "prompt_feat_len": None,
       "embedding": tensor("f", [(i - 96) / 50 for i in range(192)], [1, 192])}
buf = io.BytesIO(); Pk(buf, protocol=2).dump({"t3": t3, "gen": gen})
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    z.writestr("conds/data.pkl", buf.getvalue())
    z.writestr("conds/byteorder", "little")
    for st in storages:
        fmt = "<%d%s" % (len(st.vals), "f" if st.kind == "f" else "q")
        z.writestr("conds/data/" + st.key, struct.pack(fmt, *st.vals))
    z.writestr("conds/version", "3\n")

# mk_torch_fixtures.py: writes the conds.pt-shaped fixtures in fixtures/ with a real torch.save,
# as Chatterbox's Conditionals.save does: dict(t3=T3Cond.__dict__, gen=dict). Usage: python3 mk_torch_fixtures.py DIR
import sys, torch
from dataclasses import dataclass

@dataclass
class T3Cond:
    speaker_emb: torch.Tensor
    clap_emb: torch.Tensor = None
    cond_prompt_speech_tokens: torch.Tensor = None
    cond_prompt_speech_emb: torch.Tensor = None
    emotion_adv: torch.Tensor = 0.5

def make(P1, P, view):
    spk = (torch.arange(256, dtype=torch.float32) - 128) / 256
    spk = spk.view(1, 256)
    t3tok = ((torch.arange(P1, dtype=torch.int64) * 7) % 6561).view(1, P1)
    t3 = T3Cond(speaker_emb=spk, cond_prompt_speech_tokens=t3tok,
                emotion_adv=0.5 * torch.ones(1, 1, 1))
    ptok = ((torch.arange(P, dtype=torch.int64) * 13 + 5) % 6561).view(1, P)
    feat = (torch.arange(2 * P * 80, dtype=torch.float32) / 1000 - 3).view(1, 2 * P, 80)
    if view:  # a slice of a bigger tensor: storage offset, shared storage
        big = torch.cat([torch.zeros(1, 7, 80), feat, torch.ones(1, 3, 80)], dim=1)
        feat = big[:, 7:7 + 2 * P]
    emb = (torch.arange(192, dtype=torch.float32) - 96) / 50
    gen = dict(prompt_token=ptok, prompt_token_len=torch.tensor([P]), prompt_feat=feat,
               prompt_feat_len=None, embedding=emb.view(1, 192))
    return dict(t3=t3.__dict__, gen=gen)

out = sys.argv[1]
torch.save(make(375, 250, False), out + "/conds_full.pt")
torch.save(make(40, 30, True), out + "/conds_view.pt")
print(torch.__version__)

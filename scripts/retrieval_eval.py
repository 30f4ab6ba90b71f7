"""How well does cross-modal retrieval follow emotion? Gold labels on both sides of a query.

  python scripts/retrieval_eval.py --index /tmp/bass.npy --texts checkpoints/texts --words checkpoints/words

The collection is an export of the BASS images (`launch/predict.py export --model
checkpoints/images --dataset bass`), whose US raters' valence/arousal are the images' gold labels.
Queries: (1) label queries `vad:valence=±1`, `vad:arousal=±1`: Spearman correlation between each
image's cosine to the query and its gold valence (arousal), and the gold mean of the top 20;
(2) the EmoBank test texts (1,000) and (3) the Warriner test words: Pearson r between a query's
gold valence and the mean gold valence of its top-k images. Both retrieval spaces: the full
100-d space and the span of the head rows (`--space heads`).
"""

import argparse
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import stats

import emojax
from emojax import content_data, image_data, predict, retrieval, splits, text_data


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--index", required=True)
  p.add_argument("--texts", default="checkpoints/texts")
  p.add_argument("--words", default="checkpoints/words")
  p.add_argument("-k", type=int, default=10)
  args = p.parse_args()
  index = retrieval.load_index(args.index)
  keys, y = image_data.image_labels("bass_us_va")
  gold = y[[keys.index(it["id"]) for it in index.items]]  # (N, 2): valence, arousal
  texts_model = emojax.load(args.texts)
  retrieval.check_same_space(index, texts_model)
  bases = {"full": None, "heads": retrieval.head_basis(texts_model)}

  labels = ["vad:valence=1", "vad:valence=-1", "vad:arousal=1", "vad:arousal=-1"]
  q_labels = retrieval.embed_label_queries(texts_model, labels)
  tk, ty, tt, _ = text_data.text_table("emobank_vad")
  test = splits.split_of("emobank_vad")["test"]
  at = {k: i for i, k in enumerate(tk)}
  q_texts = texts_model.embed([tt[at[k]] for k in test], modality="texts")
  v_texts = ty[[at[k] for k in test], 0]
  words_model = emojax.load(args.words)
  retrieval.check_same_space(index, words_model)
  wk, wy, wt = content_data.word_table("warriner_vad")
  wtest = splits.split_of("warriner_vad")["test"]
  wat = {k: i for i, k in enumerate(wk)}
  q_words = words_model.embed([wt[wat[k]] for k in wtest], oov="nan", aggregate="lexicon")
  ok = np.isfinite(q_words).all(1)
  q_words, v_words = q_words[ok], wy[[wat[k] for k in wtest], 0][ok]

  print(f"collection: {index.meta['count']} BASS images; gold = US raters' VA in [-1, 1]")
  for space, basis in bases.items():
    print(f"\n== space: {space} ==")
    rows, cos = retrieval.nearest(index.embeddings, q_labels, index.meta["count"], basis)
    for i, q in enumerate(labels):
      var = 0 if "valence" in q else 1
      full_cos = np.empty(len(gold))
      full_cos[rows[i]] = cos[i]
      rho = stats.spearmanr(full_cos, gold[:, var])[0]
      print(f"label {q:<16} Spearman(cosine, gold {['valence', 'arousal'][var]}) {rho:+.3f}; "
            f"top-20 gold mean {gold[rows[i, :20], var].mean():+.3f}")
    for name, q, v in (("EmoBank test texts", q_texts, v_texts), ("Warriner test words", q_words, v_words)):
      rows, _ = retrieval.nearest(index.embeddings, q, args.k, basis)
      r = stats.pearsonr(v, gold[rows, 0].mean(1))[0]
      print(f"{name} ({len(q)}): Pearson r(query gold valence, mean gold valence of top {args.k}) {r:+.3f}")
  print(f"\n(image gold valence: mean {gold[:, 0].mean():+.3f}, sd {gold[:, 0].std():.3f})")


if __name__ == "__main__":
  main()

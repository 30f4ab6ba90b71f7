"""Writes the three small CSVs of docs/own_data.md from the bundled data (already in this folder).

  python docs/examples/make_csvs.py

- `my_words.csv`: 60 Spanish words (the first 60, alphabetically, rated in both studies) with the
  raw means of Stadthagen-González et al. 2017 (valence, arousal, 1-9) and 2018 (happiness, anger,
  sadness, fear, disgust, 1-5), from emojax/data/norare_subsets/ (CC BY-NC 4.0).
- `my_texts.csv`: 60 EmoBank sentences (Buechel & Hahn 2017, CC BY-SA 4.0; 36 train, 12 dev, 12
  test in EmoBank's own split, the first of each part in file order) with valence, arousal,
  dominance (1-5) and EmoBank's `split` column.
- `my_comments.csv`: 80 GoEmotions training comments (Demszky et al. 2020, Apache-2.0), the
  first 20 of each of joy, anger, sadness and neutral among the comments with exactly one of the
  27 emotions (+ neutral), at most 80 characters and no swearing, labelled in a made-up four-class format.
"""

import csv
import pathlib

import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent.parent / "emojax" / "data"


def words() -> None:
  read = lambda stem: pd.read_csv(DATA / "norare_subsets" / f"{stem}.tsv", sep="\t", dtype=str,
                                  keep_default_na=False)
  va = read("StadthagenGonzalez-2017-ValenceArousal").drop_duplicates("SPANISH")
  be5 = read("StadthagenGonzalez-2018-DiscreteEmotions").drop_duplicates("SPANISH")
  both = va.merge(be5, on="SPANISH").sort_values("SPANISH").head(60)
  columns = {"SPANISH": "word", "SPANISH_VALENCE_MEAN": "valence", "SPANISH_AROUSAL_MEAN": "arousal",
             "SPANISH_HAPPINESS_MEAN": "happiness", "SPANISH_ANGER_MEAN": "anger",
             "SPANISH_SADNESS_MEAN": "sadness", "SPANISH_FEAR_MEAN": "fear",
             "SPANISH_DISGUST_MEAN": "disgust"}
  both[list(columns)].rename(columns=columns).to_csv(HERE / "my_words.csv", index=False)


def texts() -> None:
  eb = pd.read_csv(DATA / "emobank" / "emobank.csv", dtype=str, keep_default_na=False)
  eb = eb[eb["text"].str.strip() != ""]
  parts = [eb[eb["split"] == p].head(n) for p, n in (("train", 36), ("dev", 12), ("test", 12))]
  out = pd.concat(parts).rename(columns={"V": "valence", "A": "arousal", "D": "dominance"})
  out[["id", "text", "valence", "arousal", "dominance", "split"]].to_csv(HERE / "my_texts.csv", index=False)


def comments() -> None:
  names = (DATA / "goemotions" / "emotions.txt").read_text().split()
  rows, count = [], dict.fromkeys(("joy", "anger", "sadness", "neutral"), 0)
  with open(DATA / "goemotions" / "train.tsv", encoding="utf-8") as f:
    for text, labels, key in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
      ids = labels.split(",")
      feeling = names[int(ids[0])]
      polite = not any(w in text.lower() for w in ("fuck", "shit"))
      if len(ids) == 1 and count.get(feeling, 20) < 20 and len(text) <= 80 and polite:
        count[feeling] += 1
        rows.append({"id": key, "text": text, "feeling": feeling})
  pd.DataFrame(rows).to_csv(HERE / "my_comments.csv", index=False)


if __name__ == "__main__":
  words()
  texts()
  comments()

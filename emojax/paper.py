"""The paper's reference numbers, in one place: what the results tables print beside ours.

Test Pearson r of the paper's tables per condition (`emojax.conditions`): words (fastText 300-d,
their lexicons), texts (BERT-base, fine-tuned; per dataset, zero-shot cells from the sibling's
encoder) and images (ImageNet ResNet-34 fine-tuned on AffectNet VA, not BASS: only Bsl and Aug
reported); the ISEAR accuracy of their fine-tuned BERT-base baseline; and the paper's three
findings, which `report.findings` checks on our data. Nothing here is computed: these are quotations.
"""

from __future__ import annotations

WORDS = {"Bsl": .807, "Sng": .808, "Aug": .805, "Mlt": .824, "BsZ": .751, "SnZ": .670, "AuZ": .750}
TEXTS = {"emobank_vad": {"Bsl": .625, "Sng": .618, "Aug": .629, "BsZ": .371, "SnZ": .353, "AuZ": .395},
         "afftext_be5": {"Bsl": .747, "Sng": .749, "Aug": .758, "BsZ": .573, "SnZ": .387, "AuZ": .572}}
TEXT_VARIABLES = {("emobank_vad", "Aug"): {"valence": .795, "arousal": .562, "dominance": .518}}
IMAGES = {"Bsl": .559, "Aug": .576}
NEW_FORMATS = {"isear": {"metric": "accuracy", "score": .714, "what": "fine-tuned BERT-base, Bsl"}}

# The paper's three claims about its conditions: (claim, condition a, condition b, test of a - b).
# The paper's own difference a - b is read from its words table (texts: from its text table).
FINDINGS = (("Sng within 0.01 of Bsl", "Sng", "Bsl", lambda d: abs(d) <= 0.01),
            ("AuZ at least 0.05 above SnZ", "AuZ", "SnZ", lambda d: d >= 0.05),
            ("AuZ within 0.02 of BsZ or better", "AuZ", "BsZ", lambda d: d >= -0.02))

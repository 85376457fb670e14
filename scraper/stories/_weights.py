"""Weights of the boundary scorer, one per _decode.FEATURES entry: written by
`.venv/bin/python bench/fit_stories.py --write` (logistic regression on the tune
split of the development set). Do not edit by hand."""

WEIGHTS_PLAIN = (
    -8.148,  # bias
    +1.749,  # lead_evidence
    +1.427,  # evidence_kinds
    +0.000,  # trailing
    +2.999,  # dateline
    +0.000,  # jsonld
    +0.000,  # h1
    +0.000,  # h2
    -0.356,  # plain_line
    +0.356,  # no_headline
    +0.532,  # head_words
    +0.725,  # head_stop
    -0.344,  # run
    +0.000,  # in_article
    -1.096,  # window_cos
    +0.888,  # depth
    +2.415,  # new_names
    +0.061,  # lede
    -2.114,  # head_above
    +1.285,  # head_below
    -2.323,  # segment_cos
    +1.368,  # segment_low
    +3.219,  # segment_hinge
    +0.745,  # short_side
    +1.828,  # min_prose
    -0.756,  # valley_hinge
)
WEIGHTS_MARKUP = (
    -5.302,  # bias
    +1.273,  # lead_evidence
    +0.909,  # evidence_kinds
    +0.000,  # trailing
    +0.599,  # dateline
    +0.000,  # jsonld
    +1.612,  # h1
    +0.703,  # h2
    +0.000,  # plain_line
    -2.315,  # no_headline
    +1.079,  # head_words
    +0.314,  # head_stop
    +0.000,  # run
    -1.908,  # in_article
    -0.561,  # window_cos
    +0.863,  # depth
    +1.390,  # new_names
    -0.567,  # lede
    -0.108,  # head_above
    +0.332,  # head_below
    -0.873,  # segment_cos
    +1.595,  # segment_low
    +1.705,  # segment_hinge
    -0.358,  # short_side
    +1.308,  # min_prose
    +0.535,  # valley_hinge
)

"""Phone numbers as callers say them and recognisers or call-takers write them, with the masked
form every output shows (engine.privacy); shared by the tests of each output path."""

from __future__ import annotations

NUMBER_FORMS = (
    ("一 三 九 一 二 三 四 五 六 七 八", "一 三 九 * * * * 五 六 七 八"),
    ("139.1234.5678", "139.****.5678"),
    ("139 - 1234 - 5678", "139 - **** - 5678"),
    ("139一二三四5678", "139****5678"),
)
HIDDEN = ("一 二 三 四", "1234", "一二三四")  # the masked middle of every form above

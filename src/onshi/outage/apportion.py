"""Sharing the claims whose insurer stays unknown among insurers (按分; pure, no database).

Seed 003 (R5.7.10 通知 別添1): "最終的に保険者を特定できなかった場合には、災害等の際の取扱いを参考に、保険者等で
負担を按分します"; the method is set by the 事務連絡 「保険者等を特定することができない診療報酬等の按分方法等について」
(厚生労働省, 2023-08-03; reported by 健保ニュース 2023年8月下旬号, https://kenporen.com/book/kenpo_news/detail/2308/230802_04.shtml).
The public sources onshi could read do not give the formula, so onshi **assumes** (docs/outage.md): each insurer
bears the month's unknown amount in proportion to its registered members in force on the month's last day, in whole
yen, the remainder going to the largest fractional parts (largest-remainder method) so the shares add up exactly.

>>> [(s.insurer_number, s.amount_yen) for s in shares(1000, {("01130012", "協会"): 2, ("06139992", "組合"): 1})]
[('01130012', 667), ('06139992', 333)]
>>> shares(0, {})
[]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    insurer_number: str
    insurer_name: str
    members: int
    ratio: float
    amount_yen: int


def shares(total_yen: int, weights: dict[tuple[str, str], int]) -> list[Share]:
    """*total_yen* shared by *weights* ((保険者番号, 名称) -> members), largest share first; exact in sum."""
    weights = {k: w for k, w in weights.items() if w > 0}
    whole = sum(weights.values())
    if not whole:
        return []
    exact = {k: total_yen * w / whole for k, w in weights.items()}
    floor = {k: int(v) for k, v in exact.items()}
    left = total_yen - sum(floor.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - floor[k]), k))[:left]:
        floor[k] += 1
    out = [Share(k[0], k[1], w, w / whole, floor[k]) for k, w in weights.items()]
    return sorted(out, key=lambda s: (-s.amount_yen, s.insurer_number))

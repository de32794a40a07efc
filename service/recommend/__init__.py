"""Assembling the three lists under an article from snapshots of the catalog, index and views.

Rules every list follows: never the article itself, never an unpublished or deleted article,
never the same article or the same story (a near-duplicate group) twice, nothing site-wide
excluded. Plain Python: nothing here imports Flask.
"""

from service.recommend.assemble import recommend
from service.recommend.fresh import FreshMatcher
from service.recommend.items import Item, Recommendations
from service.recommend.request import SECTIONS, RecommendationRequest, RelatedPolicy, parse_sections
from service.recommend.snapshots import Snapshots

__all__ = [
    "SECTIONS",
    "FreshMatcher",
    "Item",
    "RecommendationRequest",
    "Recommendations",
    "RelatedPolicy",
    "Snapshots",
    "parse_sections",
    "recommend",
]

"""The recommender core: text preparation, the TF-IDF index and its artifacts.

Plain Python, scikit-learn, numpy and scipy only: nothing here imports Flask or the store.
"""

from service.recommender.document import Document
from service.recommender.index import IndexNotFitted, RelatedIndex

__all__ = ["Document", "IndexNotFitted", "RelatedIndex"]

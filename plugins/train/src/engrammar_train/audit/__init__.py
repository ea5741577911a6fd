"""Audits of a model and its data before a long run: gradient flow, initialization, data loading,
and all of them at once with recommendations (``engrammar audit`` is the command-line form).

    from engrammar_train.audit import GradientFlowAuditor, InitializationAuditor, DataLoaderAuditor, run_full_audit
"""

from .dataloader import DataLoaderAuditor, LoaderStats
from .full import FullAudit, run_full_audit
from .gradient_flow import GradientFlowAuditor, GradientStats
from .initialization import GateSaturation, InitializationAuditor, WeightStats

__all__ = [
    "DataLoaderAuditor",
    "FullAudit",
    "GateSaturation",
    "GradientFlowAuditor",
    "GradientStats",
    "InitializationAuditor",
    "LoaderStats",
    "WeightStats",
    "run_full_audit",
]

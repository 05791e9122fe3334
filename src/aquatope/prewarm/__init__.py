"""Pool policies: how many containers of each function to keep warm, and for how long.

Pure policies (``policy(context) -> (decision, state)``, see :mod:`aquatope.prewarm.base`): fixed keep-alive,
the hybrid histogram of "Serverless in the Wild", Aquatope's forecast-quantile pool and the oracle; one safety
wrapper (:class:`SafePolicy`) around any of them; :func:`make_policy` parses their names.
"""

from aquatope.prewarm.base import (
    DEFAULT_INTERVAL_S,
    FunctionStats,
    PolicyContext,
    PoolDecision,
    PoolPolicy,
)
from aquatope.prewarm.forecast_pool import ForecastPoolPolicy, warm_containers
from aquatope.prewarm.histogram import HistogramState, HybridHistogramPolicy
from aquatope.prewarm.keepalive import OPENWHISK_KEEP_ALIVE_S, FixedKeepAlive
from aquatope.prewarm.oracle import OraclePolicy, peak_concurrency, peak_concurrency_windows
from aquatope.prewarm.safety import SafePolicy, SafeState, SafetyConfig, forecast_problem
from aquatope.prewarm.spec import POLICY_FORMS, make_policy, parse_policies

__all__ = [
    "DEFAULT_INTERVAL_S",
    "OPENWHISK_KEEP_ALIVE_S",
    "POLICY_FORMS",
    "FixedKeepAlive",
    "ForecastPoolPolicy",
    "FunctionStats",
    "HistogramState",
    "HybridHistogramPolicy",
    "OraclePolicy",
    "PolicyContext",
    "PoolDecision",
    "PoolPolicy",
    "SafePolicy",
    "SafeState",
    "SafetyConfig",
    "forecast_problem",
    "make_policy",
    "parse_policies",
    "peak_concurrency",
    "peak_concurrency_windows",
    "warm_containers",
]

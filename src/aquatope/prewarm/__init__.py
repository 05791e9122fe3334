"""Pool policies: how many containers of each function to keep warm, and for how long.

Pure policies (``policy(context) -> (decision, state)``, see :mod:`aquatope.prewarm.base`): fixed keep-alive and
the keep-alive tuned on training history, the hybrid histogram of "Serverless in the Wild", a Knative-KPA-style
reactive autoscaler, AWS-style provisioned concurrency, Aquatope's forecast-quantile pool, and the
``clairvoyant-interval`` reference; one safety wrapper (:class:`SafePolicy`) around any of them;
:func:`make_policy` parses their names and :data:`KNOBS` gives each pool's ``--pareto`` knob.
"""

from aquatope.prewarm.base import (
    DEFAULT_INTERVAL_S,
    FunctionStats,
    PolicyContext,
    PoolDecision,
    PoolPolicy,
    policy_interval_s,
)
from aquatope.prewarm.clairvoyant import ClairvoyantIntervalPolicy, peak_concurrency, peak_concurrency_windows
from aquatope.prewarm.forecast_pool import ForecastPoolPolicy, warm_containers
from aquatope.prewarm.histogram import HistogramState, HybridHistogramPolicy
from aquatope.prewarm.keepalive import OPENWHISK_KEEP_ALIVE_S, AutoKeepAlive, AutoKeepAliveState, FixedKeepAlive
from aquatope.prewarm.knobs import KNOBS, Knob, knob_for, policy_with_knob
from aquatope.prewarm.provisioned import ProvisionedConcurrency, ProvisionedState
from aquatope.prewarm.reactive import KPAState, ReactivePolicy
from aquatope.prewarm.safety import SafePolicy, SafeState, SafetyConfig, forecast_problem
from aquatope.prewarm.spec import POLICY_FORMS, make_policy, parse_policies

__all__ = [
    "DEFAULT_INTERVAL_S",
    "KNOBS",
    "OPENWHISK_KEEP_ALIVE_S",
    "POLICY_FORMS",
    "AutoKeepAlive",
    "AutoKeepAliveState",
    "ClairvoyantIntervalPolicy",
    "FixedKeepAlive",
    "ForecastPoolPolicy",
    "FunctionStats",
    "HistogramState",
    "HybridHistogramPolicy",
    "KPAState",
    "Knob",
    "PolicyContext",
    "PoolDecision",
    "PoolPolicy",
    "ProvisionedConcurrency",
    "ProvisionedState",
    "ReactivePolicy",
    "SafePolicy",
    "SafeState",
    "SafetyConfig",
    "forecast_problem",
    "knob_for",
    "make_policy",
    "parse_policies",
    "peak_concurrency",
    "peak_concurrency_windows",
    "policy_interval_s",
    "policy_with_knob",
    "warm_containers",
]

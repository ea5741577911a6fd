"""Every router against engrammar's conformance suite, one class per option set."""

from engrammar.testing import conformance_tests

TestSoftmaxRouter = conformance_tests("softmax_router", specs=[{"num_experts": 3}])
TestSoftmaxRouterTemperatureZLoss = conformance_tests(
    "softmax_router", specs=[{"num_experts": 4, "temperature": 0.5, "balance_weight": 0.0, "z_loss_weight": 0.1}]
)

TestTopKRouterSwitch = conformance_tests("topk_router", specs=[{"num_experts": 3}])
TestTopKRouterTwoRenormalized = conformance_tests(
    "topk_router", specs=[{"num_experts": 4, "top_k": 2, "renormalize": True}]
)
# noise is drawn in training mode only; the gradient property trains, so the noise parameters are checked there
TestTopKRouterNoisy = conformance_tests("topk_router", specs=[{"num_experts": 3, "top_k": 2, "noisy": True}])
# capacity keeps per-sequence counts as state: chunking, steps and resets must carry them exactly
TestTopKRouterCapacity = conformance_tests(
    "topk_router", specs=[{"num_experts": 3, "top_k": 1, "capacity_factor": 1.0}]
)
TestTopKRouterAllOptions = conformance_tests(
    "topk_router",
    specs=[
        {
            "num_experts": 4,
            "top_k": 2,
            "noisy": True,
            "renormalize": True,
            "capacity_factor": 1.5,
            "z_loss_weight": 0.01,
        }
    ],
)

# A hash is constant in its input: there is no gradient to check, by design.
_NO_GRADIENT = "a hash router is piecewise constant in its input and has no parameters: no gradient exists"
TestHashRouterToken = conformance_tests(
    "hash_router", specs=[{"num_experts": 3}], skip={"gradients": _NO_GRADIENT, "gradcheck": _NO_GRADIENT}
)
TestHashRouterPosition = conformance_tests(
    "hash_router",
    specs=[{"num_experts": 2, "key": "position"}],
    skip={"gradients": _NO_GRADIENT, "gradcheck": _NO_GRADIENT},
)

TestTokenRouter = conformance_tests("token_router", specs=[{"num_states": 3, "state_dim": 4, "num_heads": 2}])
TestTokenRouterOneHead = conformance_tests("token_router", specs=[{"num_states": 5, "state_dim": 3, "num_heads": 1}])

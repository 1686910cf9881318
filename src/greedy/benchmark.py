"""Benchmark: the trainer against a bare training loop, and the cost of the paper's measurements.

On the CMNIST two-branch model of params.yaml and pre-staged batches (already rendered and on the
device), one run measures step times of
  - the eager bare loop (forward, summed cross-entropy, backward, SGD step: every peer's loop),
    in the trainer's memory format, and in PyTorch's default (contiguous) format as a peer writes it,
  - the same loop with the model compiled as the trainer compiles it (compiling.Compiled),
  - the trainer (train_one_epoch: method, d_speed bookkeeping, metrics) as training.cmnist.compile
    configures it, and the eager trainer,
  - the guided method's trainer steps (re-balancing included, no warm-up) on the same model,
and reports
  - trainer (as configured) / eager bare loop throughput                (target >= 1.4)
  - eager trainer / eager bare loop throughput: the trainer's overhead  (target >= 0.95)
  - conditional-speed bookkeeping time / training step time             (target <= 0.05)
  - d_util evaluation time / two epochs' worth of forward passes        (target <= 1.0)
  - guided step time / vanilla step time, after the warm-up              (target <= 1.05)
  - the compiled model's logits against the eager model's on one batch (relative difference),
  - for information: trainer / the contiguous eager bare loop (no target; the targets compare
    with the eager loop in the trainer's memory format),
  - for information: each step against its floor, the step's FLOPs (greedy.flops) at the speed
    of a 1024x1024 float32 matmul timed in the same run (same device and threads), for the
    CMNIST trainer step and the eager bare-loop steps of the smoke run's ResNet18 (ModelNet40)
    and i3d_small (NVGesture) on synthetic batches of their shapes.
Each timing is the median of several alternating repeats, so background noise hits every side.

    greedy benchmark --params params.yaml config/real-mnist.yaml
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from greedy import compiling
from greedy.config import load_params, run_config
from greedy.data import prepare
from greedy.flops import step_flops
from greedy.i3d import SMALL_WIDTH_DIVISOR, stage_channels
from greedy.methods import make_method
from greedy.models import build_model
from greedy.speed import ConditionalSpeed
from greedy.evaluation import build_for_config, memory_format_for, resolve_device, splits_for_config, to_device
from greedy.train import train_one_epoch  # the trainer's step loop is what is measured
from greedy.utilization import conditional_utilization


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def bare_loop(model, optimizer, batches):
    model.train()
    for inputs, labels in batches:
        logits = model(inputs)
        loss = sum(F.cross_entropy(l, labels) for l in logits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def forward_only(model, batches):
    model.eval()
    for inputs, _ in batches:
        model(inputs)


def matmul_gflops(device, n: int = 1024, repeats: int = 9) -> float:
    """GFLOP/s of an n x n float32 matmul (2 n^3 FLOPs) at the current thread count: the median
    of `repeats` timings of 5 products, after a warm-up."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    seconds = statistics.median(timed(lambda: [a @ b for _ in range(5)], device) for _ in range(repeats)) / 5
    return 2 * n ** 3 / seconds / 1e9


# The smoke run's other architectures, timed on one synthetic batch of their shapes: name ->
# (architecture, channels, fusion_after, in_channels, classes, batch size, sample shape).
# ModelNet40: front + rear views, 32x32 fixture renders, params.yaml's batch size 8;
# NVGesture: rgb + depth, 16-frame clips with a 28x28 crop (config/smoke.yaml), batch size 4.
SMOKE_MODELS = {
    "resnet18 (ModelNet40 32x32)": ("resnet18", [64, 128, 256, 512], [2, 3, 4], [3, 3], 40, 8, (32, 32)),
    "i3d_small (NVGesture 16x28x28)": ("i3d_small", stage_channels(SMALL_WIDTH_DIVISOR), [2, 3, 4, 5, 6, 7],
                                       [3, 1], 25, 4, (16, 28, 28)),
}


def synthetic_step(name: str, device, steps: int, repeats: int) -> tuple[float, int]:
    """Eager bare-loop step time (median over repeats) of a SMOKE_MODELS model and its FLOPs."""
    architecture, channels, fusion_after, in_channels, classes, batch, shape = SMOKE_MODELS[name]
    torch.manual_seed(0)
    model = build_model(architecture, in_channels, classes, channels, fusion_after)
    memory_format = memory_format_for(architecture, device, video=len(shape) == 3)
    model = model.to(device, memory_format=memory_format)  # as build_for_config does
    inputs, labels = to_device([torch.randn(batch, c, *shape) for c in in_channels],
                               torch.randint(classes, (batch,)), device, memory_format)
    batches = [(inputs, labels)] * steps
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    bare_loop(model, optimizer, batches[:2])  # warm-up
    seconds = statistics.median(timed(lambda: bare_loop(model, optimizer, batches), device)
                                for _ in range(repeats)) / steps
    return seconds, step_flops(model, inputs)["total"]


def against_floor(flops: int, seconds: float, gflops: float) -> dict:
    """A step against its floor: its FLOPs done at the matmul's speed."""
    floor_seconds = flops / (gflops * 1e9)
    return {"step_gflop": flops / 1e9, "matmul_gflops": gflops, "floor_ms": 1000 * floor_seconds,
            "step_ms": 1000 * seconds, "step_over_floor": seconds / floor_seconds}


def measure(params: dict, steps: int = 40, repeats: int = 9, progress: bool = False) -> dict:
    prepare(params, "cmnist")
    config = run_config(params, "cmnist", params["studies"]["cmnist"]["modalities"], 0.01, params["seed"])
    device = resolve_device(config["device"])
    training = config["training"]
    splits = splits_for_config(config)
    model = build_for_config(config, splits, device)
    reference = copy.deepcopy(model)  # the eager bare loop's own model, never compiled
    contiguous = copy.deepcopy(model).to(memory_format=torch.contiguous_format)  # a peer's default
    staged = []
    for batch in splits.train:
        staged.append(to_device(*batch, device))
        if len(staged) == steps:
            break
    steps = len(staged)
    staged_contiguous = [([x.contiguous() for x in inputs], labels) for inputs, labels in staged]

    def sgd(m):
        return torch.optim.SGD(m.parameters(), lr=config["lr"], momentum=training["momentum"])

    # as the trainer decides for a real run of this configuration (train.train)
    setting = training.get("compile", "auto")
    planned = len(splits.train) * training["max_epochs"]
    compiled_on = compiling.should_compile(setting, device, planned, config["model"]["architecture"])
    net = compiling.Compiled(model, training["batch_size"])  # the compiled side, whatever `setting`
    trainer_net = net if compiled_on else model
    optimizer, reference_optimizer, contiguous_optimizer = sgd(model), sgd(reference), sgd(contiguous)
    method = make_method("vanilla")
    speed = ConditionalSpeed(model.speed_groups())

    compile_seconds = timed(lambda: bare_loop(net, optimizer, staged[:2]), device)  # compiles
    bare_loop(reference, reference_optimizer, staged[:5])  # warm-up
    bare_loop(contiguous, contiguous_optimizer, staged_contiguous[:5])
    train_one_epoch(model, optimizer, staged[:5], device, method=method, speed=speed)  # gate means exist
    guided_params = {**params["methods"]["cmnist"]["guided"], "warmup_epochs": 0}
    guided = make_method("guided", **guided_params)
    for k in range(model.num_branches):  # the re-balancing graphs compile here, not in the repeats
        with model.rebalancing(k):
            bare_loop(net, optimizer, staged[:2])
    train_one_epoch(trainer_net, optimizer, staged[:5], device, method=guided, speed=speed)
    sides = {"bare_eager": [], "bare_eager_contiguous": [], "bare_compiled": [], "trainer": [],
             "trainer_eager": [], "guided": []}
    guided_kinds: list[str] = []
    jobs = [("bare_eager", lambda: bare_loop(reference, reference_optimizer, staged)),
            ("bare_eager_contiguous", lambda: bare_loop(contiguous, contiguous_optimizer, staged_contiguous)),
            ("bare_compiled", lambda: bare_loop(net, optimizer, staged)),
            ("trainer", lambda: train_one_epoch(trainer_net, optimizer, staged, device, method=method, speed=speed)),
            ("trainer_eager", lambda: train_one_epoch(model, optimizer, staged, device, method=method, speed=speed)),
            ("guided", lambda: train_one_epoch(trainer_net, optimizer, staged, device, method=guided,
                                               speed=speed, step_kinds=guided_kinds))]
    for repeat in tqdm(range(repeats), desc="benchmark", unit="repeat", disable=not progress):
        shift = repeat % len(jobs)
        for name, job in jobs[shift:] + jobs[:shift]:  # rotate the order: no side goes first always
            sides[name].append(timed(job, device))
    median = {name: statistics.median(times) for name, times in sides.items()}
    step_seconds = median["bare_eager"] / steps

    # bookkeeping alone: mu for every group after a real backward, repeated
    logits = model(staged[0][0])
    sum(F.cross_entropy(l, staged[0][1]) for l in logits).backward()
    bookkeeping = statistics.median(timed(lambda: [speed.update() for _ in range(steps)], device)
                                    for _ in range(repeats)) / steps
    speed.drain_rows()

    # compiled against eager on one batch, same weights, training mode (the graph already compiled)
    eager_logits = [l.detach() for l in model(staged[0][0])]
    compiled_logits = [l.detach() for l in net(staged[0][0])]
    logit_difference = max(float((c - e).abs().max() / e.abs().max()) for c, e in zip(compiled_logits, eager_logits))

    # d_util on the whole training and test splits vs two epochs of forward passes
    forward_epoch = timed(lambda: forward_only(model, ((to_device(*b, device)) for b in splits.train_eval)), device)
    d_util_seconds = timed(lambda: conditional_utilization(model, splits.train_eval, splits.test, device), device)

    def ms(name):
        return 1000 * median[name] / steps

    # each step against its floor: FLOPs at the speed of a matmul timed now, with these threads
    gflops = matmul_gflops(device, repeats=repeats)
    floors = {f"lnl_convnet (CMNIST trainer, batch {training['batch_size']})":
              against_floor(step_flops(model, staged[0][0])["total"], median["trainer"] / steps, gflops)}
    for name in SMOKE_MODELS:
        seconds, flops = synthetic_step(name, device, min(steps, 5), min(repeats, 5))
        floors[name] = against_floor(flops, seconds, gflops)

    return {
        "device": str(device), "threads": torch.get_num_threads(), "steps": steps,
        "batch_size": training["batch_size"], "channels": config["model"]["channels"],
        "compile_setting": setting, "trainer_compiled": compiled_on and net.active,
        "compile_error": net.error, "first_compile_s": compile_seconds,
        "bare_eager_step_ms": ms("bare_eager"), "bare_eager_contiguous_step_ms": ms("bare_eager_contiguous"),
        "bare_compiled_step_ms": ms("bare_compiled"),
        "trainer_step_ms": ms("trainer"), "trainer_eager_step_ms": ms("trainer_eager"),
        "compiled_over_eager_bare_throughput": median["bare_eager"] / median["bare_compiled"],
        "trainer_over_eager_bare_throughput": median["bare_eager"] / median["trainer"],
        "trainer_over_contiguous_eager_bare_throughput": median["bare_eager_contiguous"] / median["trainer"],
        "eager_trainer_over_eager_bare_throughput": median["bare_eager"] / median["trainer_eager"],
        "compiled_vs_eager_logits_max_rel_diff": logit_difference,
        "bookkeeping_ms": 1000 * bookkeeping,
        "bookkeeping_fraction_of_step": bookkeeping / step_seconds,
        "forward_epoch_s": forward_epoch, "d_util_s": d_util_seconds,
        "d_util_over_two_forward_epochs": d_util_seconds / (2 * forward_epoch),
        "guided_step_ms": ms("guided"),
        "guided_over_vanilla_step": median["guided"] / median["trainer"],
        "guided_rebalancing_fraction": sum(k != "regular" for k in guided_kinds) / max(len(guided_kinds), 1),
        "train_samples": len(splits.train_eval.split["label"]),
        "test_samples": len(splits.test.split["label"]),
        "matmul_gflops": gflops, "floor": floors,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", nargs="+", default=["params.yaml"], metavar="FILE",
                        help="params.yaml and overlays, later files win (default: params.yaml)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; training jobs use resources.cmnist.threads)")


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(load_params(args.params), args.steps, args.repeats, progress=True)
    print(json.dumps(result, indent=2))
    checks = [("trainer / eager bare loop throughput", result["trainer_over_eager_bare_throughput"], ">=", 1.4),
              ("eager trainer / eager bare loop", result["eager_trainer_over_eager_bare_throughput"], ">=", 0.95),
              ("compiled / eager bare loop", result["compiled_over_eager_bare_throughput"], ">=", 1.0),
              ("bookkeeping / step", result["bookkeeping_fraction_of_step"], "<=", 0.05),
              ("d_util / two forward epochs", result["d_util_over_two_forward_epochs"], "<=", 1.0),
              ("guided step / vanilla step", result["guided_over_vanilla_step"], "<=", 1.05)]
    for name, value, op, target in checks:
        ok = value >= target if op == ">=" else value <= target
        print(f"{name:38s} {value:7.3f}  (target {op} {target})  {'ok' if ok else 'MISSED'}")
    print(f"{'trainer / contiguous eager bare loop':38s} {result['trainer_over_contiguous_eager_bare_throughput']:7.3f}"
          "  (information: a peer's loop in PyTorch's default memory format)")
    for name, f in result["floor"].items():
        print(f"floor {name:40s} {f['step_gflop']:7.3f} GFLOP / {f['matmul_gflops']:6.1f} GFLOP/s (matmul) "
              f"= floor {f['floor_ms']:8.2f} ms; step {f['step_ms']:8.2f} ms; step/floor {f['step_over_floor']:6.2f}")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="greedy benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

"""The registry: every artifact (table, figure, report section) and every method, declared once.

Each Artifact names its `greedy render` command and options, the Snakemake rule that makes it
(workflow/rules/render.smk generates the rules from here), the data sets and studies it reads,
the files it writes (so meta_files(), the index and the report follow), its Snakemake-report
caption and its entry in paper.ARTIFACTS. dvcfile.py derives dvc.yaml's render outputs from it.

This module imports no plotting library: Snakemake and `greedy dvc-yaml` read it cheaply. Render
functions are named "module:function" (of greedy.render) and imported when they run.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable


# --- methods: one declaration per method, its Table 1 row and its colour in every figure ---------

@dataclass(frozen=True)
class Method:
    label: str      # its row in Table 1 (and the report)
    color: str      # its colour in the figures (Fig. 5)
    in_paper: bool  # a row of the paper's Table 1 (paper.TABLE1 holds its numbers)


# In Table 1's row order. "unimodal" is the best uni-modal model of each data set.
METHODS = {
    "unimodal": Method("uni-modal (best)", "tab:blue", True),
    "vanilla": Method("vanilla", "tab:gray", True),
    "rubi": Method("RUBi", "tab:red", True),
    "random": Method("random", "tab:purple", True),
    "guided": Method("guided", "tab:green", True),
    "gradient_blending": Method("Gradient Blending (extra, not in the paper)", "tab:brown", False),
    "ogm_ge": Method("OGM-GE (extra, not in the paper)", "tab:orange", False),
}


def method(name: str) -> Method:
    """The declaration of a method; a method without one is an error, never a silently dropped row."""
    if name not in METHODS:
        raise ValueError(f"method {name!r} has no declaration in greedy.render.registry.METHODS (its Table 1 "
                         f"label and figure colour); declared: {', '.join(METHODS)}")
    return METHODS[name]


# --- command-line options ----------------------------------------------------------------------

def _option(flag: str, dest: str, help: str | None = None, required: bool = True, **more) -> tuple:
    return flag, {"dest": dest, "required": required, "help": help, **more}


def _named(flag: str, dest: str, help: str, default: str | None = None) -> tuple:
    """A flag taking one or more DATASET=CSV items (with `default`, a bare path is that data set's)."""
    bare = f"; a bare CSV is {default}'s" if default else ""
    return _option(flag, dest, f"{help}: DATASET=CSV, one or more{bare}", nargs="+", metavar="DATASET=CSV")


META = _option("--meta", "meta", "the artifact's <name>.meta.json (merged by `greedy index`)")
PNG = _option("--png", "out_png", "the figure")
METRICS = _option("--metrics", "metrics", "a small JSON of the headline numbers (DVC metrics)", required=False)
SWEEP = _option("--sweep", "sweep_csv", "a study CSV from `greedy collect`")
L1 = _option("--l1", "l1_csv", "the L1 study's CSV (its l1 column is λ)")
FIG5 = (SWEEP, _option("--method-sweep", "method_sweep_csv", "the method sweep's CSV"),
        _option("--pairing", "pairing", "e.g. mono+gray"), PNG, META)


# --- artifacts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Artifact:
    """One `greedy render <id>` artifact.

    rule: the Snakemake rule that makes it (artifacts drawn alike share one, e.g. fig7/fig2a/fig2b).
    datasets: the data sets it reads (per_dataset: one artifact per data set in config["datasets"];
        any_dataset: made when any of them is configured, from those that are).
    studies: the studies it reads (params.yaml studies.<dataset>.<study>; it is made only where the
        data set has them); their parameters are recorded in its index entry.
    inputs: rule input name (an option's dest where the command takes it) -> file under
        results/<dataset>/; None where render.smk writes the rule by hand (figlr, dspeed, table1).
    outputs: option dest -> file under results/ ({id}: the artifact, {dataset}: the data set).
    arguments: option dest -> what the rule passes (a value of the data set: "pairing", "dataset").
    reported: outputs shown in Snakemake's HTML report, with workflow/report/<caption>.
    paper: its key in paper.ARTIFACTS (what the paper shows), None for an extension.
    target: the output that DVC's stage (dvcfile.py) names as Snakemake's target.
    """
    id: str
    function: str
    help: str
    options: tuple
    rule: str
    datasets: tuple = ()
    studies: tuple = ()
    outputs: dict = field(default_factory=dict)
    inputs: dict | None = None
    arguments: dict = field(default_factory=dict)
    reported: tuple = ()
    caption: str | None = None
    paper: str | None = None
    target: str = "out_png"  # the output a DVC stage asks Snakemake for
    per_dataset: bool = False
    any_dataset: bool = False
    meta_id: str = ""              # its index entry's id where that is not `id` (dspeed: dspeed_steps)
    summary: str | None = None     # an extension's "ours" cell in the report: "reporting:function"
                                   # of its meta (default: its meta's summary, key: value)

    @property
    def entry(self) -> str:
        """Its id in results/index.json and the report."""
        return self.meta_id or self.id

    def load(self) -> Callable:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(f"greedy.render.{module}"), name)

    def instances(self, datasets: list[str], studies: dict) -> list[str]:
        """The data sets this artifact is made for, given config["datasets"] and config["studies"]:
        one each for a per-data-set artifact, [""] for one made once, [] where it is not made."""
        def has(d):
            return d in datasets and all(s in studies.get(d, {}) for s in self.studies)
        if self.per_dataset:
            return [d for d in datasets if has(d)]
        if self.any_dataset:
            return [""] if any(has(d) for d in self.datasets) else []
        return [""] if all(has(d) for d in self.datasets) else []

    def path(self, dest: str, dataset: str = "") -> str:
        """One output under results/."""
        return self.outputs[dest].format(id=self.id, dataset=dataset)


_FIGURE = {"out_png": "figures/{id}.png", "meta": "figures/{id}.meta.json"}
_SWEEP = dict(rule="sweep_histograms", studies=("sweep",), caption="sweep.rst", reported=("out_png",),
              inputs={"sweep_csv": "sweep.csv", "lrs": "sweep_lrs.csv"}, options=(SWEEP, PNG, META, METRICS),
              outputs={**_FIGURE, "metrics": "metrics/{id}_sweep.json"}, function="figures:{id}")
_METHOD = dict(rule="method_histograms", studies=("sweep", "method_sweep"), caption="methods.rst",
               reported=("out_png",), inputs={"sweep_csv": "sweep.csv", "method_sweep_csv": "method_sweep.csv"},
               arguments={"pairing": "pairing"}, options=FIG5, outputs=_FIGURE)
_L1 = dict(rule="l1_figures", datasets=("modelnet40",), studies=("l1",), caption="l1.rst", reported=("out_png",),
           inputs={"l1_csv": "l1.csv"}, options=(L1, PNG, META), outputs=_FIGURE)
_SENSITIVITY = dict(datasets=("modelnet40",), studies=("sensitivity",), caption="sensitivity.rst",
                    reported=("out_png",), outputs=_FIGURE)


def _artifacts(*artifacts: Artifact) -> dict[str, Artifact]:
    return {a.id: a for a in artifacts}


# In the order of meta_files(): Table 1, then each data set's artifacts, then those across data sets.
ARTIFACTS = _artifacts(
    Artifact("table1", "tables:table1", "Table 1 (csv, md, tex), with how the runs stopped",
             (_named("--unimodal", "unimodal_csv", "the uni-modal study CSVs", default="cmnist"),
              _named("--table1", "table1_csv", "the Table 1 study CSVs", default="cmnist"),
              _option("--out-prefix", "out_prefix", "writes <prefix>.csv, .md and .tex"), META),
             rule="table1", any_dataset=True, datasets=("cmnist", "modelnet40", "nvgesture"),
             outputs={"csv": "tables/table1.csv", "out_md": "tables/table1.md", "tex": "tables/table1.tex",
                      "meta": "tables/table1.meta.json"},
             reported=("out_md",), caption="table1.rst", paper="table1", target="csv"),
    Artifact("unimodal", "tables:unimodal", "uni-modal baselines table (the paper's text)",
             (_option("--dataset", "dataset", "the data set (names the artifact text:<dataset>_unimodal)",
                      required=False, default="cmnist"),
              SWEEP, _option("--csv", "out_csv"), _option("--md", "out_md"), META, METRICS),
             rule="unimodal_table", per_dataset=True, studies=("unimodal",), inputs={"sweep_csv": "unimodal.csv"},
             arguments={"dataset": "dataset"}, paper="text", target="out_csv",
             outputs={"out_csv": "tables/{dataset}_unimodal.csv", "out_md": "tables/{dataset}_unimodal.md",
                      "meta": "tables/{dataset}_unimodal.meta.json", "metrics": "metrics/{dataset}_unimodal.json"}),
    Artifact("fig7", help="Fig. 7: d_util / d_speed histograms of the CMNIST learning-rate sweep",
             datasets=("cmnist",), paper="fig7", **{**_SWEEP, "function": "figures:fig7"}),
    Artifact("methods_cmnist", "figures:methods_cmnist", "Fig. 5 on CMNIST: d_util of the vanilla, guided and random sweeps",
             datasets=("cmnist",), summary="reporting:methods_summary", **_METHOD),
    Artifact("dspeed", "figures:dspeed", "d_speed over training steps, re-balancing steps shaded",
             (_option("--guided", "guided_status", "status.json of a guided run"),
              _option("--vanilla", "vanilla_status", "status.json of a vanilla run"), PNG, META),
             rule="dspeed_plot", datasets=("cmnist",), studies=("table1",), meta_id="dspeed_steps",
             summary="reporting:dspeed_summary",
             outputs={"out_png": "figures/dspeed_steps.png", "meta": "figures/dspeed_steps.meta.json"},
             reported=("out_png",), caption="dspeed.rst"),
    Artifact("ablation", "ablation:render", "the official-code switches one at a time: both evaluation states per run",
             (_option("--ablation", "ablation_csv", "the ablation study's CSV (`greedy collect`)"),
              _option("--csv", "out_csv"), _option("--md", "out_md"), PNG, META, METRICS),
             rule="ablation", datasets=("cmnist",), studies=("ablation",), inputs={"ablation_csv": "ablation.csv"},
             outputs={"out_csv": "tables/cmnist_ablation.csv", "out_md": "tables/cmnist_ablation.md",
                      "meta": "tables/cmnist_ablation.meta.json", "out_png": "figures/ablation.png",
                      "metrics": "metrics/cmnist_ablation.json"},
             reported=("out_md", "out_png"), caption="ablation.rst", target="out_md",
             summary="reporting:ablation_summary"),
    Artifact("fig2a", help="Fig. 2a: d_util / d_speed histograms of the ModelNet40 learning-rate sweep",
             datasets=("modelnet40",), paper="fig2a", **{**_SWEEP, "function": "figures:fig2a"}),
    Artifact("fig5a", "figures:fig5a", "Fig. 5a: d_util of the vanilla, guided and random ModelNet40 sweeps",
             datasets=("modelnet40",), paper="fig5a", **_METHOD),
    Artifact("fig3", "sensitivity:fig3", "Fig. 3: R(f) vs the L1 weight λ", paper="fig3", **_L1),
    Artifact("fig4", "sensitivity:fig4", "Fig. 4: |d_util| and |d_speed| vs the L1 weight λ", paper="fig4", **_L1),
    Artifact("fig8", "sensitivity:fig8", "Fig. 8: |d_util| and |d_speed| vs R(f)", paper="fig8", **_L1),
    Artifact("fig9a", "sensitivity:fig9a", "Fig. 9a: sensitivity of d_util and accuracy to Q",
             (_option("--sensitivity", "sensitivity_csv", "the Q study's CSV (rebalance_steps column)"), PNG, META),
             rule="fig9a", inputs={"sensitivity_csv": "sensitivity_q.csv"}, paper="fig9a", **_SENSITIVITY),
    Artifact("fig9b", "sensitivity:fig9b", "Fig. 9b: sensitivity of d_util and accuracy to α",
             (_option("--alpha-study", "alpha_csv", "the α study's CSV (alpha column)"),
              _option("--expected", "expected_json", 'JSON {"E_d_util", "pairing", "models"} of vanilla'),
              PNG, META),
             rule="fig9b", inputs={"alpha_csv": "sensitivity_alpha.csv", "expected_json": "expected_d_util.json"},
             paper="fig9b", **_SENSITIVITY),
    Artifact("views", "tables:views", "three views on ModelNet40: vanilla vs guided test accuracy (the paper's text)",
             (_option("--views", "views_csv", "the three-view study's CSV"), _option("--md", "out_md"), META),
             rule="views_table", datasets=("modelnet40",), studies=("views",), inputs={"views_csv": "views.csv"},
             outputs={"out_md": "tables/modelnet40_views.md", "meta": "tables/modelnet40_views.meta.json"},
             paper="text", target="out_md"),
    Artifact("fig2b", help="Fig. 2b: d_util / d_speed histograms of the NVGesture learning-rate sweep",
             datasets=("nvgesture",), paper="fig2b", **{**_SWEEP, "function": "figures:fig2b"}),
    Artifact("fig5b", "figures:fig5b", "Fig. 5b: d_util of the vanilla, guided and random NVGesture sweeps",
             datasets=("nvgesture",), paper="fig5b", **_METHOD),
    Artifact("figlr", "figures:figlr", "d_util vs learning rate, one panel per data set (draft appendix Fig. 3)",
             (_named("--sweep", "sweeps", "learning-rate sweep CSVs"), PNG, META),
             rule="figlr", datasets=("modelnet40", "nvgesture"), any_dataset=True, studies=("sweep",),
             outputs=_FIGURE, reported=("out_png",), caption="sweep.rst", paper="figlr"),
)


def artifacts_of(datasets: list[str], studies: dict) -> list[tuple[Artifact, str]]:
    """(artifact, data set or "") for every artifact made for these data sets, in registry order,
    each data set's own artifacts grouped after Table 1 and those across data sets last."""
    made = [(a, d) for a in ARTIFACTS.values() for d in a.instances(datasets, studies)]
    order = {d: i for i, d in enumerate(datasets)}

    def key(item):
        artifact, dataset = item
        if artifact.id == "table1":
            return -1
        if artifact.any_dataset:
            return len(order)
        return order[dataset or artifact.datasets[0]]
    return sorted(made, key=key)  # stable: registry order within a data set


def meta_files(datasets: list[str], studies: dict) -> list[str]:
    """Every artifact's meta.json (under results/) for config["datasets"] and config["studies"]."""
    return [a.path("meta", d) for a, d in artifacts_of(datasets, studies)]

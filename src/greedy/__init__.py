"""Reproduction of Wu et al. (ICML 2022), "Characterizing and Overcoming the Greedy Nature of
Learning in Multi-modal Deep Neural Networks".

One module per concept: `mmtm` (the fusion module), `models` (architectures by name),
`data` (data sets by name), `speed` (conditional learning speed), `methods` (vanilla, guided,
random, RUBi, Gradient Blending), `train` (the one trainer), `evaluation` (loading and
evaluating a trained run), `utilization` (conditional utilization rate and R(f)), `studies`
(collecting runs into study tables), `render` (the artifact registry), `config` (params.yaml,
its schema and run ids), `cli` (the one `greedy` command).
"""

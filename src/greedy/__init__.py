"""Reproduction of Wu et al. (ICML 2022), "Characterizing and Overcoming the Greedy Nature of
Learning in Multi-modal Deep Neural Networks".

One module per concept: `mmtm` (the fusion module), `models` (architectures by name),
`data` (data sets by name), `speed` (conditional learning speed), `train` (the one trainer),
`utilization` (conditional utilization rate and R(f)), `config` (params.yaml and its schema).
"""

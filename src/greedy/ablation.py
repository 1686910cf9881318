"""Moved to greedy.render.ablation (the ablation's table and figure are an artifact of the render
package); this name stays for code that imports it from before the move."""
from greedy.render.ablation import *  # noqa: F401,F403
from greedy.render.ablation import chosen, rows_of_run, stop_epoch  # noqa: F401

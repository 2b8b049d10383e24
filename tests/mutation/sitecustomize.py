"""Mutation runs (`make mutate`): import aotc from the private worktree, not the editable install.

`make mutate` puts this folder on PYTHONPATH inside a git worktree whose `aotc/` links to its
own frontend/, passes/ and tools/; dropping the editable finders makes `import aotc` (and
`aotc_runtime`, from the worktree's runtime/) resolve there, where cosmic-ray mutates files.
"""

import sys

sys.meta_path[:] = [f for f in sys.meta_path if "__editable___aotc" not in repr(f)]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable___aotc" not in repr(h)]
sys.path_importer_cache.clear()

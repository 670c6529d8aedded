"""Builds of other commits, for scripts that measure several (bisect-perf, history backfill).

Each commit gets a worktree under DIR/<sha[:12]> of the repository's build/ folder, laid out as
the main tree is (the build in <worktree>/build/release), so ccache, keyed on paths relative to
each tree (scripts/build sets CCACHE_BASEDIR), hits on every file the commit did not change.
"""
import os
import subprocess

# What a measurement needs of another commit: the bench and the server it starts, built as
# scripts/build builds (release preset, -march=haswell), with ccache keyed relative to the tree.
BUILD_BENCH = ('export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1; '
               'cmake --preset release -DLIVESHARE_ARCH=haswell >/dev/null && '
               'cmake --build --preset release --target bench liveshare-server >/dev/null')


class BuildError(Exception):
    """A worktree or build that failed; the message holds the tail of its output."""


class Worktrees:
    def __init__(self, repo, folder, build_cmd, keep=False, product=None):
        """keep: leave the worktrees and builds for a later run, and reuse the ones found
        (a worktree at the right commit whose `product`, a path inside it, exists)."""
        self.repo, self.build_cmd, self.keep, self.product = repo, build_cmd, keep, product
        self.work = os.path.join(repo, "build", folder)
        self.trees = {}
        self.builds = 0

    def tree(self, sha):
        """The commit's worktree, built once (BuildError when it cannot be)."""
        if sha in self.trees:
            return self.trees[sha]
        path = os.path.join(self.work, sha[:12])
        if self.keep and self.built(path, sha):
            self.trees[sha] = path
            return path
        self.remove(path)
        r = subprocess.run(["git", "-C", self.repo, "worktree", "add", "--force", "--detach", path,
                            sha], capture_output=True, text=True)
        if r.returncode:
            raise BuildError(f"worktree of {sha[:10]}: {r.stderr.strip()}")
        r = subprocess.run(self.build_cmd, shell=True, cwd=path, capture_output=True, text=True)
        if r.returncode:
            self.remove(path)  # a failed build leaves no worktree behind
            raise BuildError(f"building {sha[:10]} failed:\n{(r.stdout + r.stderr)[-2000:]}")
        self.builds += 1
        self.trees[sha] = path
        return path

    def built(self, path, sha):
        head = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        return head == sha and bool(self.product) and os.path.exists(os.path.join(path, self.product))

    def remove(self, path):
        subprocess.run(["git", "-C", self.repo, "worktree", "remove", "--force", path],
                       capture_output=True)
        subprocess.run(["rm", "-rf", path])

    def close(self):
        if self.keep:
            return
        for path in self.trees.values():
            self.remove(path)
        self.trees = {}

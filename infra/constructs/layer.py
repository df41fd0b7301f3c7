"""The shared Lambda layer: the ``stepweave`` package and its runtime dependencies.

Built on this machine, without Docker: ``pip install --target`` with the Lambda
platform's wheel tags (``--only-binary=:all:``, so nothing is compiled for the build
host) and a copy of ``shared/stepweave`` without ``local/`` (the embedded engine,
which needs moto and is never shipped).

Two caches keep repeated synths fast:

* the asset hash is computed by us from the package sources and the pinned
  requirements, so CDK skips bundling when ``cdk.out`` already holds that asset;
* the pip output is kept in a per-user cache keyed by the requirements and
  platform, so a fresh ``cdk.out`` (or a test's temporary one) only copies files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.handlers import ARCHITECTURE, PYTHON_RUNTIME

__all__ = [
    "LAYER_REQUIREMENTS",
    "LocalLayerBundler",
    "StepweaveLayer",
    "pinned_requirements",
    "pip_platform_args",
]

#: Top-level runtime dependencies of the handlers (boto3 comes with the runtime).
#: Each is pinned to the version installed here, the one the tests ran against.
LAYER_REQUIREMENTS: tuple[str, ...] = ("pydantic", "httpx", "mini-racer", "aws-lambda-powertools",
                                        "pypdf")
#: glibc of the Lambda python3.12 runtime (Amazon Linux 2023). Wheels tagged for any
#: manylinux up to this version run there; mini-racer ships only manylinux_2_27.
LAMBDA_GLIBC_MINOR = 34
#: Not shipped: the embedded local engine (moto) and bytecode compiled by the build host.
_EXCLUDED_DIRS = frozenset({"local", "__pycache__"})
#: Bump to invalidate every cached bundle when the bundle layout changes.
_BUNDLE_FORMAT = "1"


def pinned_requirements(names: Iterable[str] = LAYER_REQUIREMENTS) -> list[str]:
    """``name==version`` for each requirement, from the environment running the synth."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise RuntimeError(
                f"'{name}' is not installed in {sys.prefix}; the layer pins its runtime "
                "dependencies to the installed versions (pip install -e '.[cdk]')"
            ) from None
    return pins


def pip_platform_args() -> list[str]:
    """pip flags selecting wheels for the Lambda runtime and architecture."""
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[ARCHITECTURE.name]
    version = PYTHON_RUNTIME.name.removeprefix("python")  # "3.12"
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", version]
    # pip does not expand manylinux_2_X tags to older ones: list them all.
    for minor in range(LAMBDA_GLIBC_MINOR, 16, -1):
        args += ["--platform", f"manylinux_2_{minor}_{machine}"]
    args += ["--platform", f"manylinux2014_{machine}"]
    return args


def _package_files(package_dir: Path) -> list[Path]:
    """The package's shipped files, relative to ``package_dir``, in a stable order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(package_dir, here, d))
        files += [(here / f).relative_to(package_dir) for f in sorted(filenames)
                  if not f.endswith(".pyc")]
    return files


def _skip_dir(package_dir: Path, parent: Path, name: str) -> bool:
    return name == "__pycache__" or (parent == package_dir and name in _EXCLUDED_DIRS)


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepweave" / "layer-deps"


def _link_or_copy(src: str, dst: str) -> Any:
    """Hard-link when source and target share a file system (cache -> cdk.out), else copy."""
    try:
        os.link(src, dst)
        return dst
    except OSError:
        return shutil.copy2(src, dst)


@jsii.implements(ILocalBundling)
class LocalLayerBundler:
    """Builds the layer into CDK's output directory; never falls back to Docker."""

    def __init__(self, package_dir: Path, requirements: list[str], pip_args: list[str],
                 *, cache_root: Path | None = None) -> None:
        self.package_dir = package_dir
        self.requirements = requirements
        self.pip_args = pip_args
        self.cache_root = cache_root or _cache_root()

    @property
    def deps_key(self) -> str:
        return _digest([_BUNDLE_FORMAT.encode(), *(r.encode() for r in self.requirements),
                        *(a.encode() for a in self.pip_args)])

    @property
    def content_hash(self) -> str:
        """Hash of everything that ends up in the layer: sources, pins, platform."""
        parts = [self.deps_key.encode()]
        for rel in _package_files(self.package_dir):
            parts += [rel.as_posix().encode(), (self.package_dir / rel).read_bytes()]
        return _digest(parts)

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        site = Path(output_dir) / "python"
        shutil.copytree(self._dependencies(), site, copy_function=_link_or_copy,
                        dirs_exist_ok=True)
        shutil.copytree(self.package_dir, site / self.package_dir.name,
                        ignore=self._ignore(), dirs_exist_ok=True)
        return True

    def _ignore(self) -> Callable[[str, list[str]], set[str]]:
        root = self.package_dir

        def ignore(directory: str, names: list[str]) -> set[str]:
            return {n for n in names if n.endswith(".pyc") or _skip_dir(root, Path(directory), n)}

        return ignore

    def _dependencies(self) -> Path:
        """The pip-installed dependencies, from the cache or installed now."""
        target = self.cache_root / self.deps_key
        if target.is_dir():
            return target
        self.cache_root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f"{self.deps_key[:12]}-", dir=self.cache_root))
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-compile", "--target", str(building), *self.pip_args, *self.requirements]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise RuntimeError(f"building the layer's dependencies failed:\n$ {' '.join(command)}\n"
                               f"{result.stderr.strip() or result.stdout.strip()}")
        shutil.rmtree(building / "bin", ignore_errors=True)  # console scripts: unused in Lambda
        try:
            building.rename(target)
        except OSError:  # another synth finished the same build first
            shutil.rmtree(building, ignore_errors=True)
        return target


class StepweaveLayer(Construct):
    """``stepweave`` + runtime dependencies under ``python/``, for ``PYTHON_RUNTIME`` only."""

    def __init__(self, scope: Construct, construct_id: str, *, package_dir: Path) -> None:
        super().__init__(scope, construct_id)
        bundler = LocalLayerBundler(package_dir, pinned_requirements(), pip_platform_args())
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            description="stepweave package and its runtime dependencies",
            compatible_runtimes=[PYTHON_RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            code=locally_bundled_code(package_dir, bundler, bundler.content_hash),
        )


def locally_bundled_code(source: Path, bundler: object, content_hash: str) -> lambda_.Code:
    """Lambda code built by a local bundler (no Docker), cached by our own content hash."""
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=content_hash,
        bundling=BundlingOptions(
            # Required by the API; never pulled: a local bundler always succeeds or raises.
            image=PYTHON_RUNTIME.bundling_image,
            # jsii.implements registers the interface; mypy only sees the Protocol
            local=cast(ILocalBundling, bundler),
        ),
    )

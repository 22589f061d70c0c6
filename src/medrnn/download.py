"""Resumable plain-HTTP downloads for the dataset catalogue: .part files + HTTP Range, size checks, .gz and safe .zip unpacking.

urllib only (no extra dependency); the catalogue itself (what a complete copy holds, where it lives) is medrnn.datasets.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from medrnn import paths
from medrnn.datasets import (DatasetInfo, absent_line, by_hand, default_fetch_dir, exists_in, get_dataset, missing_files,
                             offline_error)  # fmt: skip
from medrnn.errors import DataNotFoundError, MedrnnError, OfflineError

PHYSIONET_HOST = "physionet.org"
_PROBE_TIMEOUT_S = 10.0


def fetch_dataset(name: str, dest: Path | None = None) -> Path:
    """Download `name` into `dest` and return the folder: WFDB databases with `wfdb.dl_database`, others file by file.

    Files already there with the right size are skipped, so an interrupted fetch can be resumed.
    wfdb downloads PhysioNet's latest version of the database (it cannot pin one); file URLs name their version.
    """
    info = get_dataset(name)
    dest = Path(dest).expanduser() if dest is not None else default_fetch_dir(name)
    if info.downloads:
        return fetch_urls(info, dest)  # plain-HTTP datasets: resumable downloads, .gz and .zip unpacking
    # wfdb's requests calls have no timeout and would hang on a silent network: probe first.
    try:
        socket.create_connection((PHYSIONET_HOST, 443), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise offline_error(info, err) from err
    try:
        import wfdb
    except ImportError as err:
        raise MedrnnError("fetching PhysioNet data needs the wfdb package: pip install 'medrnn[signals]'") from err
    try:
        annotators = [ext for ext in info.extensions if ext not in ("hea", "dat")] or None
        wfdb.dl_database(info.physionet_db, str(dest), records=list(info.records), annotators=annotators)
        wfdb.dl_files(info.physionet_db, str(dest), list(info.extra_files))
    except OSError as err:  # requests' ConnectionError and wfdb's NetFileError both derive from OSError
        raise offline_error(info, err) from err
    missing = missing_files(info, dest)
    if missing:
        raise MedrnnError(
            f"{dest}: download finished but {len(missing)} files are missing (e.g. {', '.join(missing[:3])}); "
            f"run `medrnn data fetch {name} --dest {dest}` again to resume"
        )
    return dest


def ensure_datasets(missing: Mapping[str, Sequence[str]], fetch: bool = True, say: Callable[[str], None] = print) -> None:
    """Fetch the catalogue datasets a run needs and lacks (`missing`: name -> what is missing), saying so in one line
    each; without `fetch`, or when the server cannot be reached, raise DataNotFoundError in one actionable line."""
    for name, files in missing.items():
        info = get_dataset(name)
        if not fetch:
            raise DataNotFoundError(f"{absent_line(name, files)}. It is open data: fetch it with `medrnn data fetch {name}` "
                                    f"({info.files_summary()}), or {by_hand(info)}")  # fmt: skip
        dest = default_fetch_dir(name)
        say(f"{absent_line(name, files)}; fetching it from {info.server} into {dest} ({info.files_summary()})")
        made = [p for p in (dest, *dest.parents) if not p.exists()]
        try:
            fetch_dataset(name, dest)
        except OfflineError as err:
            for folder in made:  # leave no empty folder behind (it would stand for the dataset); files are kept to resume
                if folder.is_dir() and not any(f.is_file() for f in folder.rglob("*")):
                    shutil.rmtree(folder, ignore_errors=True)
            reason = getattr(err, "reason", str(err))
            raise DataNotFoundError(f"could not fetch {name} (open data, no account needed): {info.server} unreachable ({reason}). "
                                    f"When online run `medrnn data fetch {name}`, or {by_hand(info)}") from None  # fmt: skip
        if paths.dataset_dir(name) != dest:  # a partial copy under a shared root shadows the fetched one
            raise DataNotFoundError(f"{name} was fetched into {dest}, but the data root has its own {paths.dataset_dir(name)}; "
                                    f"set MEDRNN_DATA={dest.parent} to use the fetched copy")  # fmt: skip


def fetch_urls(info: DatasetInfo, dest: Path, timeout_s: float = 30.0) -> Path:
    """Download each (file, URL) of `info` into `dest`, skipping files already complete and resuming partial ones.

    A .gz URL of a plain file is unpacked; a .zip is unpacked into `dest` and deleted (skipped once the copy is complete).
    Sizes in `info.sizes` are checked; a wrong size raises and is fetched anew.
    """
    import zlib

    sizes = dict(info.sizes)
    failed: dict[str, str] = {}
    for name, url in info.downloads:
        target = dest / name
        size = sizes.get(name)
        complete = target.is_file() and (target.stat().st_size == size if size is not None else target.stat().st_size > 0)
        if name.endswith(".zip"):  # unpacked, then deleted: a zip still there was downloaded but not (fully) unpacked
            if not target.is_file() and not missing_files(info, dest):
                continue
            if complete:
                unzip(info, url, target, dest)
                continue
        elif complete:
            continue
        if any(name in group and any(exists_in(dest, f) for f in group) for group in info.any_of):
            continue  # e.g. set-a/ is already there: set-a.tar.gz is not needed
        try:  # one file's failure is reported with the others at the end; the remaining files are still fetched
            fetch_one(info, name, url, target, size, dest, timeout_s)
        except OfflineError:
            raise  # no server: the other files cannot be fetched either
        except (MedrnnError, OSError, EOFError, ValueError, zlib.error) as err:
            failed[name] = f"{type(err).__name__}: {err}"
    if failed:
        lines = "\n  ".join(f"{name}: {why}" for name, why in failed.items())
        raise MedrnnError(f"{dest}: {len(failed)} of {len(info.downloads)} files could not be fetched (the others are in place; "
                          f"run `medrnn data fetch {info.name}` again to retry them):\n  {lines}")  # fmt: skip
    missing = missing_files(info, dest)
    if missing:
        raise MedrnnError(f"{dest}: download finished but {len(missing)} files are missing (e.g. {', '.join(missing[:3])})")
    return dest


def fetch_one(info: DatasetInfo, name: str, url: str, target: Path, size: int | None, dest: Path, timeout_s: float) -> None:
    """Download one file to a .part beside `target`, unpack a .gz, check its published size, then rename into place."""
    import gzip

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    download(info, url, partial, timeout_s)
    if url.endswith(".gz") and not name.endswith(".gz"):
        partial.write_bytes(gzip.decompress(partial.read_bytes()))
    got = partial.stat().st_size
    if size is not None and got != size:
        partial.unlink()
        raise MedrnnError(
            f"{url}: downloaded {got} bytes, expected {size} (as published); the file was discarded: run "
            f"`medrnn data fetch {info.name} --dest {dest}` again, or download {info.url} manually"
        )
    partial.replace(target)
    if name.endswith(".zip"):
        unzip(info, url, target, dest)


def unzip(info: DatasetInfo, url: str, archive: Path, dest: Path) -> None:
    """Unpack `archive` into `dest`, keeping its layout, then delete it; an unreadable or unsafe zip is discarded.

    Members with an absolute path, a drive letter or a `..` part are refused before anything is written.
    """
    import zipfile

    def discard(why: str) -> MedrnnError:
        archive.unlink()
        return MedrnnError(
            f"{url}: {why}; {archive.name} was discarded: run `medrnn data fetch {info.name} --dest {dest}` again, "
            f"or download {info.url} manually"
        )

    def unsafe(member: str) -> bool:
        parts = member.replace("\\", "/").split("/")
        return member.startswith(("/", "\\")) or parts[0].endswith(":") or ".." in parts

    try:
        with zipfile.ZipFile(archive) as zf:
            refused = [m for m in zf.namelist() if unsafe(m)]
            if not refused:
                zf.extractall(dest)
    except zipfile.BadZipFile as err:
        raise discard(f"not a valid zip file ({err})") from err
    if refused:
        raise discard(
            f"unsafe member {refused[0]!r} in {archive.name} (an absolute path or '..' would escape {dest}); nothing was unpacked"
        )
    archive.unlink()


def download(info: DatasetInfo, url: str, partial: Path, timeout_s: float) -> None:
    """Append `url` to `partial`, continuing from its current size with an HTTP Range request (urllib: no extra dependency)."""
    import http.client
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    have = partial.stat().st_size if partial.is_file() else 0
    request: str | urllib.request.Request = url
    if have:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310  (fixed https URLs)
            resumed = have > 0 and getattr(response, "status", 200) == 206  # a server that ignores Range sends it all
            length = getattr(response, "headers", {}).get("Content-Length")
            start = have if resumed else 0
            total = start + int(length) if length and str(length).isdigit() else None
            with partial.open("ab" if resumed else "wb") as fh, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=partial.name.removesuffix(".part"),
                leave=False, disable=not sys.stderr.isatty(),
            ) as bar:  # fmt: skip
                while chunk := response.read(1 << 20):
                    fh.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already as long as the remote one (or longer): start over
            partial.unlink()
            return download(info, url, partial, timeout_s)
        raise offline_error(info, f"{url}: {err}") from err
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, a connection cut mid-file (IncompleteRead)
        kept = f"; {partial.stat().st_size} bytes kept in {partial}, the next fetch resumes there" if partial.is_file() else ""
        raise offline_error(info, f"{url}: {err}{kept}") from err

"""Import the UCI lower-limb text files into a BIDS-EMG folder of BDF+ recordings."""
from __future__ import annotations

import logging
from pathlib import Path

from .atomic import atomic_write_text
from .bids import bids_basename, write_dataset_description
from .edf import write_bdf
from .uci import _NAME_RE, GROUPS, load_uci

log = logging.getLogger(__name__)


def find_uci_files(src_dir: str | Path) -> list[Path]:
    """All ``{subject}{N|A}{mar|pie|sen}.txt`` files under ``src_dir`` (recursively), sorted."""
    src = Path(src_dir)
    return sorted(p for p in src.rglob("*") if p.is_file() and _NAME_RE.match(p.name))


def duplicate_message(name: str, first: str, keep: bool) -> str:
    """What the importer says about a source file whose samples repeat an earlier one's."""
    if keep:
        return f"{name}: same samples as {first}: imported anyway (marked duplicate_of={first})"
    return f"{name}: same samples as {first}: skipped, {first} kept (keep_duplicates / --keep-duplicates imports both)"


def import_uci(src_dir: str | Path, out_dir: str | Path, keep_duplicates: bool = False) -> list[Path]:
    """Convert every UCI text file under ``src_dir`` to ``out_dir/sub-XXG/emg/sub-XXG_task-EXR_emg.bdf``.

    Each BDF+ holds RF, BF, VM, ST (mV) and the knee angle FX (deg) at 1000 Hz, one
    annotation labelling the whole file with its exercise (``mar``/``pie``/``sen``),
    and comes with ``_emg.json``, ``_channels.tsv`` and ``_events.tsv``. The subject
    label joins number and group (``1N`` -> ``01N``). ``dataset_description.json``
    and ``participants.tsv`` are written at ``out_dir``.

    Files whose samples are identical to an earlier file (in the published data
    ``2Npie``/``2Nsen`` repeat ``1Npie``/``1Nsen``) are skipped, the first kept; with
    ``keep_duplicates`` they are imported too, with ``meta['duplicate_of']`` naming
    the first file, so that training code can keep them out of held-out splits. Either
    way a warning names both files and says which was written.

    Returns:
        The BDF paths written, in source-file order.

    Raises:
        FileNotFoundError: no UCI files under ``src_dir``.
        RecordingFormatError: a malformed source file. Every output file is written
            atomically; files converted before the bad one stay.
    """
    out = Path(out_dir)
    files = find_uci_files(src_dir)
    if not files:
        raise FileNotFoundError(f"no UCI files ({{subject}}{{N|A}}{{mar|pie|sen}}.txt) under {src_dir}")
    written: list[Path] = []
    seen: dict[str, str] = {}
    participants: dict[str, str] = {}
    for src in files:
        rec = load_uci(src)
        digest = rec.meta["content_sha256"]
        if digest in seen:
            log.warning("%s", duplicate_message(src.name, seen[digest], keep_duplicates))
            if not keep_duplicates:
                continue
            rec.meta["duplicate_of"] = seen[digest]
        else:
            seen[digest] = src.name
        sub = rec.meta["bids_subject"]
        participants[sub] = rec.meta["group"]
        target = out / f"sub-{sub}" / "emg" / f"{bids_basename(sub, rec.meta['exercise'])}_emg.bdf"
        written.append(write_bdf(rec, target))
    write_dataset_description(
        out, "UCI EMG dataset in Lower Limb (BDF+ import)", license="CC BY 4.0",
        source="UCI Machine Learning Repository: EMG dataset in Lower Limb",
    )
    rows = ["participant_id\tgroup\tgroup_description"]
    rows += [f"sub-{s}\t{g}\t{GROUPS[g]}" for s, g in sorted(participants.items())]
    atomic_write_text(out / "participants.tsv", "\n".join(rows) + "\n")
    return written


def import_3dc(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Convert the 3DC gestures files under ``src_dir`` to BIDS-style BDF+ recordings.

    One BDF+ per elicitation, ``sub-P{P}/emg/sub-P{P}_task-{motion}_acq-{train|test}_run-{R}_emg.bdf``,
    ten channels in nominal uV (:data:`garment.recordings.threedc.UV_PER_CODE`), the
    whole file annotated with its motion. Dataset: Côté-Allard et al., IEEE TNSRE
    27(4):760-771, 2019.
    """
    from .threedc import find_3dc_files, load_3dc

    out = Path(out_dir)
    files = find_3dc_files(src_dir)
    if not files:
        raise FileNotFoundError(f"no 3DC files (ParticipantP/{{train,test}}/EMG/3dc_EMG_gesture_R_C.txt) under {src_dir}")
    written: list[Path] = []
    for f in files:
        rec = load_3dc(f)
        sub = rec.meta["bids_subject"]
        name = bids_basename(sub, rec.meta["exercise"], run=f.repetition, acq=f.split)
        written.append(write_bdf(rec, out / f"sub-{sub}" / "emg" / f"{name}_emg.bdf"))
    write_dataset_description(
        out, "3DC gestures (BDF+ import)",
        source="Côté-Allard et al., A Low-Cost, Wireless, 3-D-Printed Custom Armband for sEMG Hand Gesture "
        "Recognition, IEEE TNSRE 27(4):760-771, 2019",
    )
    return written

"""`hpo storage gc --dry-run`: the code archives and dataset snapshots no sweep's record names.

Only a listing. Such objects are not safely garbage: a sweep started before sweep records
existed names its archive and snapshot nowhere but in Temporal (and `hpo predict` of it needs
the archive), and `hpo sweep run` uploads a sweep's archive a moment before its record is
written. `hpo sweep delete ID` frees a recorded sweep's own; this shows what is left over.
"""

from __future__ import annotations

from rich.table import Table

from hpo.cli.ui import UserError, console
from hpo.contracts.settings import Settings
from hpo.storage import deletion
from hpo.storage.s3 import ObjectStore, StorageUnavailable


def gc(settings: Settings, dry_run: bool) -> int:
    if not dry_run:
        raise UserError(
            "hpo storage gc only lists, with --dry-run: a code archive or snapshot no record names "
            "may still belong to a sweep from before sweep records, or to one starting now; free a "
            "sweep's objects with `hpo sweep delete SWEEP_ID`"
        )
    store = ObjectStore(settings)
    try:
        store.ensure_bucket()
        found, unreadable = deletion.gather_unreferenced(store)
    except (StorageUnavailable, deletion.StorageError) as error:
        raise UserError(str(error)) from None
    for sweep_id in unreadable:
        console.print(
            f"the record of sweep {sweep_id} could not be read: what it names may be listed",
            markup=False,
        )
    if not found:
        console.print(f"every code archive and snapshot in s3://{store.bucket} is named by a sweep's record")
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("not named by any record", "objects", "size"):
        table.add_column(column)
    for key, (count, size) in sorted(found.items()):
        table.add_row(key, str(count), deletion.megabytes(size))
    console.print(table)
    total = sum(size for _, size in found.values())
    console.print(f"{len(found)} unreferenced, {deletion.megabytes(total)} in all (nothing deleted)")
    return 0

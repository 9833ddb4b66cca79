"""DynamoDB's TransactWriteItems in moto, all-or-nothing as AWS does it, at
the cost of the items it touches.

moto undoes a cancelled transaction by deep-copying, before every call, each
table the transaction names, and putting the copies in place on cancellation.
That costs time in the table's size (a table of a few thousand events takes
tens of milliseconds a call, past a second at bench sizes, where the SDK's
attempt timeout retries it), and it swaps the table objects: the writes moto
had applied stay in the old table's stream shard, which stream iterators
already handed out still read (a cancelled write published), and those
iterators never see a later write (it goes to the copy's shard). AWS writes
nothing of a cancelled transaction to the stream.

So, for the duration of a transaction, moto's copy of a table is the table
itself, and the wrapper snapshots only the items the transaction names (a
Put's item key, the Key of an Update, Delete or ConditionCheck), deep-copied
because an Update changes its item in place. On cancellation those items
are put back as they were (absent ones removed), and the stream records
appended during the call dropped. Everything else (CancellationReasons,
ReturnValuesOnConditionCheckFailure, the duplicate-key and validation
errors) is moto's own.

Conditions and update expressions are parsed once per distinct text
(moto_expressions.py), as every request's are.
"""

import copy
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.dynamodb.models.dynamo_type import DynamoType

# Set while a transaction runs in this thread: moto's backup copy of a table
# is then the table itself.
_IN_TRANSACTION = threading.local()


class _TableCopyShim:
    """moto's `copy` module, as its DynamoDB models see it: a table's deep
    copy inside a transaction is the table; every other copy is a copy."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table) and getattr(_IN_TRANSACTION, "active", False):
            return value
        return copy.deepcopy(value, memo)


def item_key(table, op_type, op):
    """The (hash, range) key an operation names in its table, or None when it
    names none moto could write (moto fails that operation itself)."""
    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None
    if table.range_key_attr is not None and table.range_key_attr not in attrs:
        return None
    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = (
            DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        )
        hash(hash_key), hash(range_key)
    except Exception:  # a malformed value: moto refuses the operation
        return None
    return hash_key, range_key


def stored_item(table, hash_key, range_key):
    if range_key is None:
        return table.items.get(hash_key)
    bucket = table.items.get(hash_key)
    return bucket.get(range_key) if bucket is not None else None


def snapshot(backend, transact_items):
    """{table name: (table, {key: deep copy of its item, or None})} for every
    item the transaction names."""
    touched = {}
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        if not isinstance(op, dict):
            continue
        try:
            # By name or ARN, as moto finds it.
            table = backend.get_table(op.get("TableName"))
        except Exception:
            continue
        key = item_key(table, op_type, op)
        if key is None:
            continue
        _, items = touched.setdefault(table.name, (table, {}))
        if key not in items:
            items[key] = copy.deepcopy(stored_item(table, *key))
    return touched


def restore(touched):
    """Puts every named item back as the snapshot holds it."""
    for table, items in touched.values():
        for (hash_key, range_key), item in items.items():
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
                continue
            bucket = table.items.get(hash_key)
            if item is not None:
                table.items[hash_key][range_key] = item
            elif bucket is not None:
                bucket.pop(range_key, None)
                if not bucket:
                    del table.items[hash_key]


def atomic_transactions(original):
    """`original` (moto's TransactWriteItems), cancelled without a trace."""

    def transact_write_items(self, transact_items):
        live = dict(self.tables)
        streamed = {
            name: len(table.stream_shard.items)
            for name, table in live.items()
            if getattr(table, "stream_shard", None) is not None
        }
        touched = snapshot(self, transact_items)
        _IN_TRANSACTION.active = True
        try:
            return original(self, transact_items)
        except Exception:
            for name, table in live.items():
                restored = self.tables.get(name)
                if restored is not None and restored is not table:
                    # moto copied the table after all (its code changed): its
                    # copy holds the state before the call.
                    shard = getattr(table, "stream_shard", None)
                    table.__dict__.update(restored.__dict__)
                    table.stream_shard = shard
                    if shard is not None:
                        shard.table = table
                    self.tables[name] = table
                    touched.pop(name, None)
                shard = getattr(table, "stream_shard", None)
                if shard is not None:
                    del shard.items[streamed.get(name, len(shard.items)) :]
            restore(touched)
            raise
        finally:
            _IN_TRANSACTION.active = False

    return transact_write_items


def install():
    """Puts the wrapper in place of moto's TransactWriteItems."""
    dynamodb_models.copy = _TableCopyShim()
    DynamoDBBackend.transact_write_items = atomic_transactions(
        DynamoDBBackend.transact_write_items
    )

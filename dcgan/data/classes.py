"""The classes of a conditional run: their names, and the labels a user asks for by name or number.

A run's classes are fixed by its training data: K = the number of names, and the names come
from the source where it has them (tfds label names, folder names), else from
`data.class_names`, else "0".."K-1". They are kept in the run folder (classes.json),
the one place sample and evaluate read them from to rebuild the models.
"""

import csv

from dcgan.errors import UserError


def resolve_class_names(source, labels, source_names, configured_names):
    """The names of classes 0..K-1 of a labelled training set.

    Args:
        source: the data.source string, named in errors.
        labels: int labels of the training images.
        source_names: names the source gives itself (tfds, folder) or None.
        configured_names: data.class_names; () when not set.

    Raises:
        UserError: a label beyond the names given, or fewer than two classes.
    """
    seen = int(labels.max()) + 1
    names = list(source_names or configured_names or [str(k) for k in range(seen)])
    if seen > len(names):
        where = "data.class_names" if configured_names and not source_names else source
        raise UserError(f"data.source {source}: has label {seen - 1} but {where} names only "
                        f"{len(names)} classes; name them all, or set data.class_names=()")
    if len(names) < 2:
        raise UserError(f"data.source {source}: all images are of one class; a conditional "
                        "run needs two or more (or set model.conditional=False)")
    return names


def parse_labels(spec, names):
    """The class numbers of a comma-separated list of class numbers or names ("3", "Sneaker,Bag").

    A name matches exactly, or else case-insensitively when only one class matches that way.
    A name holding a comma is given in double quotes ('"cats, dogs",birds') or with the comma
    escaped ('cats\\, dogs'), as in a CSV line.

    Raises:
        UserError: an empty item or a class the run does not have, naming the classes it has.
    """
    folded = {}
    for k, name in enumerate(names):
        folded.setdefault(name.casefold(), []).append(k)
    chosen = []
    items = next(csv.reader([spec], skipinitialspace=True, escapechar="\\"), [""])
    for item in (part.strip() for part in items):
        if item in names:
            chosen.append(names.index(item))
        # ASCII only: "²".isdigit() is True, yet int("²") raises.
        elif item.isascii() and item.isdigit() and int(item) < len(names):
            chosen.append(int(item))
        elif len(folded.get(item.casefold(), ())) == 1:
            chosen.append(folded[item.casefold()][0])
        else:
            commas = [name for name in names if "," in name]
            quoting = f"; a name with a comma goes in double quotes: --labels='\"{commas[0]}\"'" \
                if commas else ""
            raise UserError(f"--labels={spec}: no class {item!r}; the run has {len(names)} "
                            f"classes: {describe(names)}{quoting}")
    return chosen


def describe(names):
    """'0 T-shirt/top, 1 Trouser, ...' (numbers alone when the names are the numbers)."""
    if names == [str(k) for k in range(len(names))]:
        return f"0..{len(names) - 1}"
    return ", ".join(f"{k} {name}" for k, name in enumerate(names))


def cycle(labels, count):
    """Labels of images 0..count-1: image i gets labels[i % len(labels)]."""
    return [labels[i % len(labels)] for i in range(count)]

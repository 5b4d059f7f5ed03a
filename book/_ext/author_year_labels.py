"""Bibliography labels that read as the chapters cite: "Ntinou et al., 2021", not "[NSB+21]".

The chapters cite author-year (``bibtex_reference_style: author_year``), which changes the
citations in the text but not the labels of the bibliography's list; pybtex ships only the alpha
and number label styles, so this registers an author-year one and a formatting style using it
(``bibtex_default_style: author_year`` in _config.yml). Works of one first author and year get
a, b, ... in the order of the list.
"""

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(person.last_names) for person in people]
    if len(names) > 2:
        return f"{names[0]} et al."
    return " and ".join(names) or entry.fields.get("title", entry.key)


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        repeated = {label for label, count in Counter(labels).items() if count > 1}
        suffixes = Counter()
        for label in labels:
            if label in repeated:
                suffixes[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[suffixes[label] - 1]
            yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "author_year"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

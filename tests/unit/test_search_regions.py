"""The country → region table and the reading of Wikidata claims (reference §8.6 FIX)."""

from __future__ import annotations

import pytest

from bookstrack.books.dto import AuthorGender, CulturalRegion
from bookstrack.search.authors import facts_from_entity
from bookstrack.search.regions import region_for_country


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("United Kingdom", CulturalRegion.EUROPE),
        ("Papua New Guinea", CulturalRegion.OCEANIA),
        ("Dominican Republic", CulturalRegion.CARIBBEAN),
        ("United States of America", CulturalRegion.NORTH_AMERICA),
        ("Guinea", CulturalRegion.AFRICA),
        ("Equatorial Guinea", CulturalRegion.AFRICA),
        ("Côte d'Ivoire", CulturalRegion.AFRICA),
        ("Jamaica", CulturalRegion.CARIBBEAN),
        ("Iran", CulturalRegion.MIDDLE_EAST),
        ("Kazakhstan", CulturalRegion.CENTRAL_ASIA),
        ("Japan", CulturalRegion.ASIA),
        ("Colombia", CulturalRegion.SOUTH_AMERICA),
        ("New Zealand", CulturalRegion.OCEANIA),
        ("Ukraine", CulturalRegion.EUROPE),
        ("Soviet Union", CulturalRegion.EUROPE),
    ],
)
def test_region_for_country(country, region):
    assert region_for_country(country) is region
    assert region_for_country(country.upper()) is region


def test_unknown_country_has_no_region():
    assert region_for_country("Atlantis") is None
    assert region_for_country(None) is None
    assert region_for_country("Ukraine-ish") is None  # exact names, not substrings


def _claim(prop, value):
    return {"mainsnak": {"property": prop, "datavalue": {"value": value}}}


def test_facts_from_entity():
    entity = {
        "id": "Q1",
        "claims": {
            "P21": [_claim("P21", {"id": "Q6581072"})],
            "P569": [_claim("P569", {"time": "+1932-10-27T00:00:00Z"})],
            "P570": [_claim("P570", {"time": "garbage"})],
        },
    }
    facts = facts_from_entity(entity, "United States of America")
    assert facts.found
    assert facts.gender is AuthorGender.FEMALE
    assert (facts.birthYear, facts.deathYear) == (1932, None)
    assert facts.culturalRegion is CulturalRegion.NORTH_AMERICA
    assert facts_from_entity({"claims": "nonsense"}, None).gender is AuthorGender.UNKNOWN

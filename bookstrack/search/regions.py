"""Country → cultural region: an exact table of country names (Wikidata's English labels and common
aliases), replacing the original's first-substring-match regexes (reference §8.6: "United Kingdom" fell
through, "Papua New Guinea" became Africa, "Dominican Republic" North America).

Lookups fold case, accents and punctuation (``author_key``), so ``Côte d'Ivoire`` and ``cote d ivoire``
agree. Regions follow the client's enum: the Caribbean, Central Asia and the Middle East are regions of
their own, so a Caribbean island is never "North America", Kazakhstan never "Asia", Iran never "Asia".
Historical states (Soviet Union, Yugoslavia, Ottoman Empire, …) are listed where a region is clear.
"""

from __future__ import annotations

from bookstrack.books.dto import CulturalRegion
from bookstrack.books.keys import author_key

__all__ = ["region_for_country"]

_R = CulturalRegion

_TABLE: dict[CulturalRegion, str] = {
    _R.AFRICA: """Algeria|Angola|Benin|Botswana|Burkina Faso|Burundi|Cameroon|Cape Verde|Cabo Verde|
        Central African Republic|Chad|Comoros|Democratic Republic of the Congo|DR Congo|Republic of the Congo|
        Congo|Djibouti|Egypt|Equatorial Guinea|Eritrea|Eswatini|Swaziland|Ethiopia|Gabon|The Gambia|Gambia|Ghana|
        Guinea|Guinea-Bissau|Ivory Coast|Côte d'Ivoire|Kenya|Lesotho|Liberia|Libya|Madagascar|Malawi|Mali|
        Mauritania|Mauritius|Morocco|Mozambique|Namibia|Niger|Nigeria|Rwanda|São Tomé and Príncipe|
        Sao Tome and Principe|Senegal|Seychelles|Sierra Leone|Somalia|South Africa|South Sudan|Sudan|Tanzania|
        Togo|Tunisia|Uganda|Zambia|Zimbabwe|Rhodesia|Western Sahara|Sahrawi Arab Democratic Republic|Zaire""",
    _R.ASIA: """Afghanistan|Bangladesh|Bhutan|Brunei|Cambodia|China|People's Republic of China|Taiwan|
        Republic of China|Hong Kong|Macau|India|British Raj|Indonesia|Japan|Empire of Japan|Laos|Malaysia|
        Maldives|Mongolia|Myanmar|Burma|Nepal|North Korea|South Korea|Korea|Pakistan|Philippines|Singapore|
        Sri Lanka|Ceylon|Thailand|Siam|Timor-Leste|East Timor|Vietnam|Viet Nam|Qing dynasty|Korean Empire""",
    _R.CENTRAL_ASIA: """Kazakhstan|Kyrgyzstan|Tajikistan|Turkmenistan|Uzbekistan""",
    _R.MIDDLE_EAST: """Bahrain|Iran|Iraq|Israel|Jordan|Kuwait|Lebanon|Oman|Palestine|State of Palestine|Qatar|
        Saudi Arabia|Syria|Turkey|Türkiye|United Arab Emirates|Yemen|Ottoman Empire|Mandatory Palestine""",
    _R.EUROPE: """Albania|Andorra|Armenia|Austria|Austria-Hungary|Azerbaijan|Belarus|Belgium|
        Bosnia and Herzegovina|Bulgaria|Croatia|Cyprus|Czech Republic|Czechia|Czechoslovakia|Denmark|Estonia|
        Finland|France|Georgia|Germany|West Germany|East Germany|German Democratic Republic|Nazi Germany|
        German Reich|Kingdom of Prussia|Prussia|Weimar Republic|German Empire|Greece|Hungary|Iceland|Ireland|
        Republic of Ireland|Italy|Kingdom of Italy|Kosovo|Latvia|Liechtenstein|Lithuania|Luxembourg|Malta|
        Moldova|Monaco|Montenegro|Netherlands|Kingdom of the Netherlands|North Macedonia|Macedonia|Norway|Poland|
        Portugal|Romania|Russia|Russian Federation|Russian Empire|Soviet Union|USSR|San Marino|Serbia|Slovakia|
        Slovenia|Spain|Sweden|Switzerland|Ukraine|United Kingdom|United Kingdom of Great Britain and Ireland|
        Kingdom of Great Britain|Great Britain|UK|England|Scotland|Wales|Northern Ireland|Vatican City|
        Holy See|Yugoslavia|Kingdom of Yugoslavia|Socialist Federal Republic of Yugoslavia|Irish Free State""",
    _R.NORTH_AMERICA: """United States|United States of America|USA|US|Canada|Mexico|Greenland|Belize|
        Costa Rica|El Salvador|Guatemala|Honduras|Nicaragua|Panama""",
    _R.CARIBBEAN: """Antigua and Barbuda|Bahamas|The Bahamas|Barbados|Cuba|Dominica|Dominican Republic|Grenada|
        Haiti|Jamaica|Saint Kitts and Nevis|Saint Lucia|Saint Vincent and the Grenadines|Trinidad and Tobago|
        Puerto Rico|Martinique|Guadeloupe|Aruba|Curaçao|Bermuda|Cayman Islands|Montserrat|Anguilla|
        British Virgin Islands|United States Virgin Islands|Turks and Caicos Islands""",
    _R.SOUTH_AMERICA: """Argentina|Bolivia|Brazil|Empire of Brazil|Chile|Colombia|Ecuador|Guyana|Paraguay|Peru|
        Suriname|Uruguay|Venezuela|French Guiana""",
    _R.OCEANIA: """Australia|Fiji|Kiribati|Marshall Islands|Federated States of Micronesia|Micronesia|Nauru|
        New Zealand|Palau|Papua New Guinea|Samoa|Solomon Islands|Tonga|Tuvalu|Vanuatu|New Caledonia|
        French Polynesia|Cook Islands""",
}

_BY_NAME: dict[str, CulturalRegion] = {
    author_key(name.strip()): region
    for region, names in _TABLE.items()
    for name in names.split("|")
    if name.strip()
}


def region_for_country(country: str | None) -> CulturalRegion | None:
    """The region of a country name (exact, folded), or None for a name not in the table."""
    if not country:
        return None
    return _BY_NAME.get(author_key(country))

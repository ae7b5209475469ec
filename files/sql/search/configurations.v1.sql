-- The text-search configurations `mp_<language>`: the language's own with accents removed
-- inside the configuration (unaccent as a filtering dictionary before the stemmer), so
-- documents, queries and ts_headline all agree: "Radiações" matches "radiacoes" and is
-- highlighted as written. One per language a tenant may choose (accounts' search_config),
-- and mp_simple (no stemming) for the vocabulary of names and tags.
CREATE TEXT SEARCH CONFIGURATION mp_simple (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION mp_simple ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
CREATE TEXT SEARCH CONFIGURATION mp_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION mp_english ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
CREATE TEXT SEARCH CONFIGURATION mp_french (COPY = french);
ALTER TEXT SEARCH CONFIGURATION mp_french ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
CREATE TEXT SEARCH CONFIGURATION mp_german (COPY = german);
ALTER TEXT SEARCH CONFIGURATION mp_german ALTER MAPPING FOR hword, hword_part, word WITH unaccent, german_stem;
CREATE TEXT SEARCH CONFIGURATION mp_spanish (COPY = spanish);
ALTER TEXT SEARCH CONFIGURATION mp_spanish ALTER MAPPING FOR hword, hword_part, word WITH unaccent, spanish_stem;
CREATE TEXT SEARCH CONFIGURATION mp_italian (COPY = italian);
ALTER TEXT SEARCH CONFIGURATION mp_italian ALTER MAPPING FOR hword, hword_part, word WITH unaccent, italian_stem;
CREATE TEXT SEARCH CONFIGURATION mp_portuguese (COPY = portuguese);
ALTER TEXT SEARCH CONFIGURATION mp_portuguese ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem;
CREATE TEXT SEARCH CONFIGURATION mp_dutch (COPY = dutch);
ALTER TEXT SEARCH CONFIGURATION mp_dutch ALTER MAPPING FOR hword, hword_part, word WITH unaccent, dutch_stem;

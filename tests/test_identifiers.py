"""The national platform's three identifiers, each with its validator: every form seen in the national
catalogues is accepted (HSA-ids with SE and TSTNMT, consumer ids with T_SERVICES_, logical addresses that are
bare organisation numbers or codes like VS-1), and what is not one is refused with a message that says why,
at the CLI as anywhere else, before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from npo_core.errors import BadRequest
from npo_core.identity import check_consumer_id, check_hsa_id, check_logical_address

HSA_IDS = ["SE2321000016-F0VB", "SE162321000024-0001", "TSTNMT2321000156-1002", "SE2321000131-E000000011",
           "SE5565594230-BDV", "TSTNMT2321000156-B02"]
CONSUMER_IDS = ["T_SERVICES_SE165565594230-10KD", "SE5565594230-BDV", "SE2321000016-A2NF"]
LOGICAL_ADDRESSES = ["SE2321000016-TKC1", "5565594230", "VS-1", "TSTNMT2321000156-1002",
                     "T_SERVICES_SE165565594230-10KD", "HSASERVICES-100M", "SE165565594230-1000"]

# (value, the start of the reason given) for every validator
REFUSED_EVERYWHERE = [
    ("", "it is empty"),
    ("SE2321000016-\x00F0VB", "it holds a control or invisible character (U+0000) at position 14"),
    ("SE2321000016-F0VB\n", "it holds a control or invisible character (U+000A) at position 18"),
    ("SE2321000016-\u200bF0VB", "it holds a control or invisible character (U+200B) at position 14"),
    ("SE2321000016 F0VB", "it holds white space at position 13"),
    ("\u00a0SE2321000016-F0VB", "it holds white space at position 1"),
    ("SE2321000016-" + "A" * 60, "73 characters, at most"),
    ("SE2321000016-F0VB;drop", "'SE2321000016-F0VB;drop'"),
    ("SE٢٣٢١٠٠٠٠١٦-F0VB", "'SE٢٣٢١٠٠٠٠١٦-F0VB'"),  # Arabic-Indic digits are digits to Python, not to HSA
]


@pytest.mark.parametrize("value", HSA_IDS)
def test_hsa_ids_in_every_national_form(value):
    assert check_hsa_id(value) == value and check_consumer_id(value) == value
    assert check_logical_address(value) == value  # an HSA-id is also a logical address


@pytest.mark.parametrize("value", CONSUMER_IDS)
def test_consumer_ids(value):
    assert check_consumer_id(value) == value


@pytest.mark.parametrize("value", LOGICAL_ADDRESSES)
def test_logical_addresses(value):
    assert check_logical_address(value) == value


@pytest.mark.parametrize("value, reason", REFUSED_EVERYWHERE)
@pytest.mark.parametrize("check, what", [(check_hsa_id, "HSA-id"), (check_consumer_id, "consumer id"),
                                         (check_logical_address, "logical address")])
def test_refused_with_the_reason(check, what, value, reason):
    with pytest.raises(BadRequest) as e:
        check(value)
    assert e.value.message.startswith(f"Not a valid {what}: {reason}"), e.value.message


@pytest.mark.parametrize("check, value", [
    (check_hsa_id, "5565594230"), (check_hsa_id, "VS-1"), (check_hsa_id, "T_SERVICES_SE165565594230-10KD"),
    (check_hsa_id, "se2321000016-F0VB"), (check_hsa_id, "SE2321000016-" + "A" * 19),  # 32 > HSA's 31
    (check_consumer_id, "5565594230"), (check_consumer_id, "X_SERVICES_SE165565594230-10KD"),
    (check_logical_address, "-VS1"), (check_logical_address, "VS-1-"), (check_logical_address, "a/b"),
    (check_logical_address, "SE2321000016-ÅÄÖ"),
])
def test_each_refuses_the_others_forms(check, value):
    with pytest.raises(BadRequest):
        check(value)


@pytest.fixture
def npo(tmp_path):
    def run(*args, ok=True):
        done = subprocess.run([sys.executable, "-m", "npo_core", "--registry", str(tmp_path / "registry.db"), *args],
                              capture_output=True, text=True, env={**os.environ, "NPO_REGISTRY": ""})
        assert (done.returncode == 0) == ok, done.stderr
        return done
    return run


def test_the_cli_takes_the_qa_platforms_identifiers(npo):
    npo("env", "set", "qa", "npo_hsa_id", "T_SERVICES_SE165565594230-10KD")
    npo("env", "set", "qa", "engagement_index", "5565594230")
    for address in ("5565594230", "VS-1", "TSTNMT2321000156-1002"):
        npo("producers", "add", "--env", "qa", "--provider", "TSTNMT2321000156-1002", "--provider-name",
            "Testvårdgivare", "--unit", "TSTNMT2321000156-B02=Testenhet", "--logical-address", address,
            "--system-name", "Testsystem", "--contract", "GetDiagnosis")
    listed = json.loads(npo("producers", "list", "--env", "qa", "--json").stdout)
    assert sorted(r["logical_address"] for r in listed) == ["5565594230", "TSTNMT2321000156-1002", "VS-1"]
    shown = json.loads(npo("env", "show", "qa", "--json").stdout)
    assert shown["npo_hsa_id"] == "T_SERVICES_SE165565594230-10KD" and shown["engagement_index"] == "5565594230"
    npo("producers", "remove", "--env", "qa", "VS-1")


@pytest.mark.parametrize("option, value, message", [
    ("--logical-address", "VS 1", "Not a valid logical address: it holds white space at position 3"),
    ("--logical-address", "VS-1\x07", "--logical-address contains the control character U+0007"),
    ("--logical-address", "V" * 65, "Not a valid logical address: 65 characters, at most 64"),
    ("--provider", "5565594230", "Not a valid HSA-id: '5565594230'"),
    ("--unit", "T_SERVICES_SE165565594230-10KD=Enhet", "Not a valid HSA-id"),
])
def test_the_cli_refuses_with_one_line_and_writes_nothing(npo, option, value, message):
    args = {"--provider": "TSTNMT2321000156-1002", "--unit": "TSTNMT2321000156-B02=Testenhet",
            "--logical-address": "VS-1", option: value}
    done = npo("producers", "add", "--env", "qa", "--provider-name", "Testvårdgivare", "--system-name", "Testsystem",
               "--contract", "GetDiagnosis", *[x for kv in args.items() for x in kv], ok=False)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert json.loads(npo("producers", "list", "--env", "qa", "--json").stdout) == []

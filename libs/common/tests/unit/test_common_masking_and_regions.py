"""Personal data never reaches the logs; region codes nest the way GB/T 2260 says."""

import json
import logging

from xinfang_common.domain import region_contains, region_level, region_prefix
from xinfang_common.logging import JsonFormatter, mask_text, mask_value


def test_id_numbers_and_phones_in_free_text_are_masked():
    text = "张三 身份证 11010519491231002X 电话 13812345678 座机 0731-84561234"
    masked = mask_text(text)
    assert "11010519491231002X" not in masked
    assert "110105********002X" in masked
    assert "13812345678" not in masked
    assert "138****5678" in masked
    assert "84561234" not in masked


def test_sensitive_structured_fields_are_hidden_whole():
    assert mask_value("name", "张三") == "***"
    assert mask_value("petitioners", [{"name": "张三"}]) == "***"
    assert mask_value("detail", {"phone": "13812345678", "n": 1}) == {"phone": "***", "n": 1}


def test_json_log_lines_are_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call 13812345678", None, None)
    record.address = "长沙市岳麓区某路1号"
    line = json.loads(JsonFormatter("intake").format(record))
    assert line["msg"] == "call 138****5678"
    assert line["address"] == "***"
    assert line["service"] == "intake"


def test_region_nesting():
    assert region_prefix("430000") == "43"
    assert region_prefix("430100") == "4301"
    assert region_contains("430000", "430104")
    assert region_contains("430100", "430104")
    assert region_contains("430104", "430104")
    assert not region_contains("430104", "430100")
    assert not region_contains("430100", "440104")
    assert [region_level(c) for c in ("430000", "430100", "430104")] == [1, 2, 3]


def test_tracking_codes_in_logged_urls_are_masked():
    line = 'GET http://intake/v1/track/7K3M-Q9XA-2BHT-CW4R/rating "HTTP/1.1 201"'
    assert mask_text(line) == 'GET http://intake/v1/track/***/rating "HTTP/1.1 201"'
    assert mask_text("/v1/track/7k3mq9xa2bhtcw4r?x=1") == "/v1/track/***?x=1"

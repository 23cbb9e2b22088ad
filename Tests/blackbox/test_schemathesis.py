"""schemathesis with every check, against docs/openapi.yaml and the live server:
no 5xx, and every response conforms to the spec (status, headers, body). First,
the spec itself must be a valid OpenAPI 3.1 document."""
import json
import os
import subprocess
import sys

import requests
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from conftest import ADMIN_TOKEN, make_cart, make_product, order_body

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def real_ids(api):
    """Products, open carts with lines, and orders that exist, so that half of the generated
    ids hit something: random ids alone reach only the 404s of carts, orders and lines."""
    products = [make_product(api, stock=1_000_000_000)["id"] for _ in range(3)]
    carts = [make_cart(api, [(products[0], 2), (products[1], 1)]) for _ in range(8)]
    orders = []
    for _ in range(8):
        r = requests.post(api.url + "/api/v1/orders", json=order_body(make_cart(api, [(products[2], 1)])))
        assert r.status_code == 201, r.text
        orders.append(r.json()["id"])
    return {"products": products, "carts": carts, "orders": orders}


def schemathesis(api, url, tmp_path, *options):
    """Runs schemathesis with every check against `url`, half of its ids real ones;
    asserts that it passed and that it reached past the 404s."""
    ids = real_ids(api)
    config = tmp_path / "schemathesis.toml"
    with open(os.path.join(ROOT, "Tests", "schemathesis.toml")) as base:
        text = base.read()
    for name, values in ids.items():
        text += f"\n[dictionaries.{name}]\nvalues = {json.dumps(values)}\n"
    text += "\n[parameters]\n" + "".join(
        f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}\n'
        for key, name in [("path.productId", "products"), ("path.cartId", "carts"),
                          ("path.orderId", "orders"), ("body.cartId", "carts")])
    config.write_text(text)

    cli = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    result = subprocess.run(
        # Every check but use_after_free: DELETE /api/v1/products/{id} deactivates (a soft
        # delete, as API.md says) and an admin may still PATCH the product, e.g. to
        # reactivate it, which that check reads as a deleted resource still being there.
        [cli, "--config-file", str(config), "run", os.path.join(ROOT, "docs", "openapi.yaml"), "--url", url,
         "--checks", "all", "--exclude-checks", "use_after_free",
         "--max-examples", os.environ.get("SCHEMATHESIS_EXAMPLES", "100"), "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
         "--no-color", *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

    # The run reached past the 404s (schemathesis's own report does not say): some of the
    # real orders moved on, and some of the real carts were changed or checked out.
    orders = [requests.get(f"{api.url}/api/v1/orders/{order}").json()["status"] for order in ids["orders"]]
    assert set(orders) != {"pending"}, orders
    carts = [requests.get(f"{api.url}/api/v1/carts/{cart}").json() for cart in ids["carts"]]
    assert any(cart["status"] == "ordered" or cart["itemCount"] != 3 for cart in carts), carts


def test_the_spec_is_a_valid_openapi_3_1_document():
    # schemathesis reads a spec leniently; tools that users feed it to (code generators, gateways) may not.
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_schemathesis_all_checks(api, tmp_path):
    schemathesis(api, api.url, tmp_path)


def test_schemathesis_through_nginx(api, web, tmp_path):
    # What a browser or a curl through the shop's origin meets: nginx's own refusals
    # (size limits, TRACE, malformed requests) must keep the API's contract too. Only
    # /api/ is proxied; the probes and the index there are nginx's and the shop's.
    try:
        schemathesis(api, web, tmp_path, "--include-path-regex", "^/api/")
    except AssertionError as failure:
        # nginx's 503 "cannot be reached" says only that the backend failed it; its log says how.
        with open(os.path.join(os.path.dirname(web.access_log), "error.log"), errors="replace") as log:
            raise AssertionError(f"{failure}\n--- nginx error log ---\n{log.read()[-4000:]}") from None

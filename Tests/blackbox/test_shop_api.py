"""Shop API v1 against the contract (shared/API.md), over HTTP, with a real database."""
import concurrent.futures
import gzip
import json
import os
import random
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import requests

from conftest import ADMIN, ADMIN_TOKEN, make_cart, make_product, order_body, unique


def sql(statements, **popen):
    """Runs SQL in a session of its own (the mariadb client, each result printed as it comes) and returns the process."""
    return subprocess.Popen(["mariadb", "--protocol=TCP", "-h", os.environ["DB_HOST"], "-P", os.environ["DB_PORT"], "-u", os.environ["DB_USER"],
                             "--skip-column-names", "--unbuffered", os.environ["DB_NAME"], "-e", statements],
                            env={**os.environ, "MYSQL_PWD": os.environ["DB_PASSWORD"]}, text=True, **popen)


TITLES = {}  # (type, status) -> the title seen first, over the whole module


def problem(r, status):
    """The problem document in `r`. Its type has one title whatever the occurrence (RFC 9457
    §3.1.3), and a /problems/ type resolves to a page under that title (§3.1.1)."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"] and "detail" in body
    key = (body["type"], status)
    if key not in TITLES and body["type"].startswith("/problems/"):
        page = requests.get(urllib.parse.urljoin(r.url, body["type"]))
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8", body["type"]
        assert f"<h1>{body['title']}</h1>" in page.text, (body, page.text)
    assert TITLES.setdefault(key, body["title"]) == body["title"], f"{key} has two titles: {TITLES[key]!r} and {body['title']!r}"
    return body


# --- catalog -------------------------------------------------------------------

def test_categories_have_counts(api):
    make_product(api, category="cat-counts")
    items = requests.get(api.url + "/api/v1/categories").json()["items"]
    mine = [c for c in items if c["slug"] == "cat-counts"]
    assert mine and mine[0]["productCount"] >= 1 and mine[0]["name"] == "Cat Counts"


def test_product_shape_and_lookup(api):
    p = make_product(api, imageUrl="/images/x.svg")
    for field in ["id", "sku", "name", "description", "category", "priceCents", "currency", "stock", "imageUrl", "createdAt", "updatedAt"]:
        assert field in p
    assert p["currency"] == "USD" and p["createdAt"].endswith("Z")
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["sku"] == p["sku"]
    problem(requests.get(f"{api.url}/api/v1/products/999999999"), 404)
    problem(requests.get(f"{api.url}/api/v1/products/abc"), 404)


def test_listing_filters_sorts_and_pages(api):
    category = "list-" + uuid.uuid4().hex[:8]
    prices = [500, 100, 300, 300, 200, 900, 700]
    ids = [make_product(api, category=category, priceCents=p, name=f"Item {chr(71 - i)}")["id"] for i, p in enumerate(prices)]
    base = f"{api.url}/api/v1/products?category={category}"

    page = requests.get(base + "&sort=price&limit=3").json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 0
    # Consecutive pages never overlap or skip, ties broken by id.
    seen = []
    for offset in range(0, 7, 3):
        seen += [p["id"] for p in requests.get(base + f"&sort=price&limit=3&offset={offset}").json()["items"]]
    expected = [i for _, i in sorted(zip(prices, ids))]
    assert seen == expected
    desc = [p["priceCents"] for p in requests.get(base + "&sort=-price").json()["items"]]
    assert desc == sorted(prices, reverse=True)
    names = [p["name"] for p in requests.get(base + "&sort=name").json()["items"]]
    assert names == sorted(names)
    newest = [p["id"] for p in requests.get(base + "&sort=newest").json()["items"]]
    assert newest == sorted(ids, reverse=True)
    # Price bounds are inclusive.
    ranged = requests.get(base + "&minPrice=200&maxPrice=500").json()
    assert sorted(p["priceCents"] for p in ranged["items"]) == [200, 300, 300, 500] and ranged["total"] == 4
    assert requests.get(base + "&minPrice=600&maxPrice=400").json()["total"] == 0


def test_a_listing_page_is_one_moment_of_the_catalog_while_an_admin_changes_it(api):
    # Each admin change empties the cache, so most listings read the database while
    # prices move and a product comes and goes. Every page must be sorted by the prices
    # it shows and hold only active products: the page's ids and their rows are one snapshot.
    category = "moving-" + uuid.uuid4().hex[:8]
    ids = [make_product(api, category=category, priceCents=100 * (n + 1))["id"] for n in range(6)]

    def change_catalog():
        rng = random.Random(7)
        with requests.Session() as http:
            for n in range(300):
                body = {"active": n % 2 == 1} if n % 5 == 0 else {"priceCents": rng.randrange(1, 1000)}
                r = http.patch(f"{api.url}/api/v1/products/{ids[n % 6]}", json=body, headers=ADMIN)
                assert r.status_code == 200, r.text

    unsorted, inactive, lists = [], [], 0
    with concurrent.futures.ThreadPoolExecutor(1) as pool, requests.Session() as http:
        changing = pool.submit(change_catalog)
        while not changing.done():
            items = http.get(f"{api.url}/api/v1/products", params={"category": category, "sort": "price"}).json()["items"]
            lists += 1
            keys = [(p["priceCents"], p["id"]) for p in items]
            if keys != sorted(keys):
                unsorted.append(keys)
            inactive += [p["id"] for p in items if not p["active"]]
        changing.result()  # its own failure, if it had one
    assert lists > 20, lists
    assert not unsorted, f"{len(unsorted)} of {lists} pages out of price order, e.g. {unsorted[0]}"
    assert not inactive, f"inactive products listed: {inactive[:5]}"


def test_text_search_is_case_insensitive_and_literal(api):
    tag = uuid.uuid4().hex[:8]
    a = make_product(api, name=f"Wild 100% Wool {tag}")
    b = make_product(api, name=f"Wild 1000 Wool {tag}")
    c = make_product(api, name=f"snake_case back\\slash {tag}")
    def search(q):
        return {p["id"] for p in requests.get(api.url + "/api/v1/products", params={"q": q, "limit": 100}).json()["items"]}
    assert search(f"WILD 100% WOOL {tag}".lower().upper()) == {a["id"]}
    assert search(f"100% wool {tag}") == {a["id"]}
    assert search(f"snake_case back\\slash {tag}") == {c["id"]}
    assert search(f"e_c") & {a["id"], b["id"]} == set()


def test_bad_query_parameters_are_400(api):
    for query in ["limit=0", "limit=101", "limit=abc", "offset=-1", "sort=cheapest", "minPrice=-5",
                  "limit=1&limit=2", "maxPrice=1e3"]:
        body = problem(requests.get(f"{api.url}/api/v1/products?{query}"), 400)
        name = query.split("=")[0]
        assert body["errors"] == [{"field": name, "message": body["errors"][0]["message"]}] and name in body["detail"], body
    # requests would re-encode a bad escape, so send these raw.
    for query in [b"q=%zz", b"q=%e9", b"category=%4"]:
        with api.connect() as conn:
            conn.sendall(b"GET /api/v1/products?" + query + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body = conn.read_response()
            assert status == 400 and "percent-escape" in json.loads(body)["detail"], body


def test_listing_shows_only_active_products(api):
    p = make_product(api)
    assert requests.delete(f"{api.url}/api/v1/products/{p['id']}", headers=ADMIN).status_code == 204
    problem(requests.get(f"{api.url}/api/v1/products/{p['id']}"), 404)
    listed = requests.get(api.url + "/api/v1/products", params={"q": p["sku"]}).json()
    assert listed["items"] == []


def test_catalog_reads_carry_an_etag_and_answer_304_to_a_client_that_holds_it(api):
    p = make_product(api, priceCents=1000)
    url = f"{api.url}/api/v1/products/{p['id']}"
    first = requests.get(url)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and re.fullmatch(r'W/"[0-9a-f]{16}"', tag) and first.headers["Cache-Control"] == "no-cache"
    held = requests.get(url, headers={"If-None-Match": tag})
    assert held.status_code == 304 and held.content == b"" and held.headers["ETag"] == tag
    # The length of what the client holds (RFC 9110 §8.6), as a HEAD says it; no type, no content.
    assert held.headers["Content-Length"] == str(len(first.content)) and "Content-Type" not in held.headers
    assert held.headers["Cache-Control"] == "no-cache"
    assert requests.head(url, headers={"If-None-Match": tag}).status_code == 304
    assert requests.get(url, headers={"If-None-Match": f'"other", {tag}'}).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert requests.get(url, headers={"If-None-Match": tag.removeprefix("W/") + " junk"}).status_code == 200  # malformed: ignored
    # A change makes a new tag, so the client holding the old one gets the new product.
    assert requests.patch(url, json={"priceCents": 1100}, headers=ADMIN).status_code == 200
    changed = requests.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["priceCents"] == 1100 and changed.headers["ETag"] != tag
    for path in ["/api/v1/products?limit=5&sort=newest", "/api/v1/categories", "/api/v1/openapi.yaml"]:
        r = requests.get(api.url + path)
        assert requests.get(api.url + path, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304, path
    # Carts and orders are never stored (no-store), so they have no tag to hold.
    cart = requests.post(api.url + "/api/v1/carts")
    again = requests.get(api.url + cart.headers["Location"], headers={"If-None-Match": "*"})
    assert again.status_code == 200 and "ETag" not in again.headers and again.headers["Cache-Control"] == "no-store"
    assert requests.get(f"{api.url}/api/v1/products/999999999", headers={"If-None-Match": "*"}).status_code == 404


def test_if_match_is_evaluated_before_anything_changes(api):
    """RFC 9110 §13.1.1: a method is not performed when If-Match does not hold. The
    server's tags are weak and If-Match compares strongly, so only `*` can hold."""
    p = make_product(api, priceCents=1000, stock=5)
    url = f"{api.url}/api/v1/products/{p['id']}"
    tag = requests.get(url).headers["ETag"]
    # A read: evaluated on its answer.
    problem(requests.get(url, headers={"If-Match": tag}), 412)
    assert requests.head(url, headers={"If-Match": '"x"'}).status_code == 412
    assert requests.get(url, headers={"If-Match": "*"}).status_code == 200
    # A change: 412 and nothing changed; preconditions come after auth and the 404.
    for condition in [{"If-Match": tag}, {"If-Match": tag.removeprefix("W/")}, {"If-Match": "junk"}, {"If-None-Match": tag}, {"If-None-Match": "*"}]:
        assert next(iter(condition)) in problem(requests.patch(url, json={"priceCents": 1}, headers={**ADMIN, **condition}), 412)["detail"]
        problem(requests.delete(url, headers={**ADMIN, **condition}), 412)
    assert requests.get(url).json()["priceCents"] == 1000 and requests.get(url).headers["ETag"] == tag
    problem(requests.patch(url, json={"priceCents": 1}, headers={"If-Match": '"x"'}), 401)
    problem(requests.patch(f"{api.url}/api/v1/products/999999999", json={"priceCents": 1}, headers={**ADMIN, "If-Match": '"x"'}), 404)
    assert requests.patch(url, json={"priceCents": 1100}, headers={**ADMIN, "If-Match": "*"}).json()["priceCents"] == 1100
    assert requests.patch(url, json={"priceCents": 1200}, headers={**ADMIN, "If-None-Match": tag}).json()["priceCents"] == 1200
    # An inactive product still exists for an admin, who may reactivate it.
    assert requests.delete(url, headers=ADMIN).status_code == 204
    problem(requests.patch(url, json={"active": True}, headers={**ADMIN, "If-None-Match": "*"}), 412)
    assert requests.patch(url, json={"active": True}, headers={**ADMIN, "If-Match": "*"}).json()["active"] is True

    # A cart line exists while it is in the cart.
    cart = make_cart(api)
    line = f"{api.url}/api/v1/carts/{cart}/items/{p['id']}"
    problem(requests.put(line, json={"quantity": 2}, headers={"If-Match": "*"}), 412)
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"] == []
    assert requests.put(line, json={"quantity": 2}, headers={"If-None-Match": "*"}).status_code == 200
    problem(requests.put(line, json={"quantity": 3}, headers={"If-None-Match": "*"}), 412)
    problem(requests.delete(line, headers={"If-Match": '"x"'}), 412)
    assert requests.put(line, json={"quantity": 3}, headers={"If-Match": "*"}).json()["itemCount"] == 3
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/999999999", json={"quantity": 1}, headers={"If-Match": '"x"'}), 404)
    problem(requests.put(f"{api.url}/api/v1/carts/{'A' * 22}/items/{p['id']}", json={"quantity": 1}, headers={"If-Match": '"x"'}), 404)
    # A line stays while its product is deactivated: it still exists, and a 0 still removes it.
    gone = make_product(api)
    gone_line = f"{api.url}/api/v1/carts/{cart}/items/{gone['id']}"
    assert requests.put(gone_line, json={"quantity": 1}).status_code == 200
    assert requests.delete(f"{api.url}/api/v1/products/{gone['id']}", headers=ADMIN).status_code == 204
    problem(requests.put(gone_line, json={"quantity": 1}, headers={"If-None-Match": "*"}), 412)
    problem(requests.put(gone_line, json={"quantity": 2}, headers={"If-Match": "*"}), 404)  # the product's 404, as without it
    assert [i["productId"] for i in requests.put(gone_line, json={"quantity": 0}, headers={"If-Match": "*"}).json()["items"]] == [p["id"]]
    problem(requests.put(gone_line, json={"quantity": 0}, headers={"If-Match": "*"}), 404)  # now a new line it cannot hold
    # A wrong Content-Type is refused without the condition too, so its 415 comes first (RFC 9110 §13.2.1).
    text = {"Content-Type": "text/plain", "If-Match": "*"}
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/999999999", data='{"quantity": 1}', headers={"If-Match": '"x"', "Content-Type": "text/plain"}), 415)
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/{make_product(api)['id']}", data='{"quantity": 1}', headers=text), 415)
    problem(requests.patch(url, data='{"priceCents": 1}', headers={**ADMIN, **text, "If-Match": '"x"'}), 415)
    problem(requests.post(api.url + "/api/v1/orders", data="{}", headers={**text, "If-None-Match": "*"}), 415)
    problem(requests.post(api.url + "/api/v1/carts", headers={"If-Match": "*"}), 412)  # /carts has no representation
    assert requests.post(api.url + "/api/v1/carts", headers={"If-None-Match": "*"}).status_code == 201

    # Checkout, status changes and cancel.
    problem(requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"If-Match": '"x"'}), 412)
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["status"] == "open"
    order = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"If-Match": "*"})
    assert order.status_code == 201, order.text
    order_url = api.url + order.headers["Location"]
    problem(requests.put(line, json={"quantity": 1}, headers={"If-Match": '"x"'}), 409)  # ordered: 409 whatever the condition
    problem(requests.patch(order_url, json={"status": "paid"}, headers={**ADMIN, "If-Match": '"x"'}), 412)
    problem(requests.post(order_url + "/cancel", headers={"If-Match": "*"}), 412)  # a cancel has no representation
    assert requests.get(order_url).json()["status"] == "pending" and requests.get(url).json()["stock"] == 2
    assert requests.patch(order_url, json={"status": "paid"}, headers={**ADMIN, "If-Match": "*"}).json()["status"] == "paid"
    assert requests.post(order_url + "/cancel", headers={"If-None-Match": "*"}).json()["status"] == "cancelled"
    problem(requests.post(order_url + "/cancel", headers={"If-Match": '"x"'}), 409)
    assert requests.get(url).json()["stock"] == 5


def test_a_line_precondition_holds_under_the_carts_lock(api):
    """A line's precondition is looked at before the content is read (RFC 9110
    §13.2.1), and a concurrent request may add or remove the line after that look.
    Checked again under the cart's lock, the change answers 412 rather than overwrite
    a line it was told is not there, or bring back one that was removed."""
    p = make_product(api, stock=10)
    for condition, existing, change in [("If-None-Match", None, "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES ('{cart}', {p}, 5, UTC_TIMESTAMP(3))"),
                                        ("If-Match", 5, "DELETE FROM cart_items WHERE cart_id = '{cart}' AND product_id = {p}")]:
        cart = make_cart(api, [(p["id"], existing)] if existing else [])
        # Another session holds the cart, changes the line once the PUT waits for the cart, and commits.
        holder = sql(f"BEGIN; SELECT 'locked' FROM carts WHERE id = '{cart}' FOR UPDATE; DO SLEEP(2); "
                     f"{change.format(cart=cart, p=p['id'])}; COMMIT;", stdout=subprocess.PIPE)
        assert holder.stdout.readline().strip() == "locked"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            put = pool.submit(requests.put, f"{api.url}/api/v1/carts/{cart}/items/{p['id']}", json={"quantity": 2},
                              headers={condition: "*"}, timeout=30)
            waiting = "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'UPDATE carts%'"
            while sql(waiting, stdout=subprocess.PIPE).communicate()[0].strip() != "1":
                assert holder.poll() is None and not put.done(), "the PUT did not wait for the cart while it was held"
                time.sleep(0.02)
            assert condition in problem(put.result(), 412)["detail"]
        assert holder.wait() == 0
        items = requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"]
        assert [i["quantity"] for i in items] == ([] if existing else [5])


# --- admin ---------------------------------------------------------------------

def test_admin_calls_need_the_token(api):
    # RFC 6750 §3.1: a wrong token is named invalid_token; no token (or another scheme) gets no error code.
    for headers, error in [({}, False), ({"Authorization": "Bearer wrong-token-wrong-token"}, True), ({"Authorization": "Basic abc"}, False)]:
        r = requests.post(api.url + "/api/v1/products", json={}, headers=headers)
        problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
        assert ('error="invalid_token"' in r.headers["WWW-Authenticate"]) == error, headers
    problem(requests.get(api.url + "/api/v1/orders"), 401)
    # The scheme is case-insensitive and may be followed by more than one space (RFC 9110 §11.4);
    # the token itself is not, and it must be separated from the scheme.
    for value in [f"bearer {ADMIN_TOKEN}", f"BEARER   {ADMIN_TOKEN}"]:
        assert requests.get(api.url + "/api/v1/orders", headers={"Authorization": value}).status_code == 200
    for value in [f"Bearer{ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN.upper()}", f"Bearer {ADMIN_TOKEN}x", "Bearer ", f"Bearer\t{ADMIN_TOKEN}"]:
        problem(requests.get(api.url + "/api/v1/orders", headers={"Authorization": value}), 401)
    # Two fields count only when they agree; otherwise which one counts would be a guess.
    for fields, status in [((ADMIN_TOKEN, "wrong-token-wrong-token"), 401), (("wrong-token-wrong-token", ADMIN_TOKEN), 401),
                           ((ADMIN_TOKEN, ADMIN_TOKEN), 200)]:
        with api.connect() as c:
            c.sendall(b"GET /api/v1/orders HTTP/1.1\r\nHost: x\r\n" + b"".join(b"Authorization: Bearer %s\r\n" % f.encode() for f in fields) + b"\r\n")
            got, headers, _ = c.read_response()
        assert got == status, (fields, got)
        assert status == 200 or headers["www-authenticate"].startswith("Bearer")


def test_an_upload_the_head_refuses_is_answered_before_its_body_is_sent(api):
    """RFC 9110 §10.1.1: a client waiting for 100 Continue gets the 401 or 415 instead."""
    cart, product = make_cart(api), make_product(api)["id"]
    plain, jsonType = b"Content-Type: text/plain\r\n", b"Content-Type: application/json\r\n"
    for head, status in [(b"POST /api/v1/products HTTP/1.1\r\n" + jsonType, 401),
                         (b"PATCH /api/v1/orders/x HTTP/1.1\r\n" + plain, 401),
                         (f"PUT /api/v1/carts/{cart}/items/{product} HTTP/1.1\r\n".encode() + plain, 415),
                         (b"POST /api/v1/orders HTTP/1.1\r\n", 415),
                         (b"POST /api/v1/orders HTTP/1.1\r\nContent-Encoding: gzip\r\n" + jsonType, 415),
                         (b"PATCH /api/v1/orders/x HTTP/1.1\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n" + plain, 415)]:
        with api.connect() as s:
            s.sendall(head + b"Host: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            status_got, headers, body = s.read_response()
            assert (status_got, headers.get("connection")) == (status, "close"), head
            assert json.loads(body)["status"] == status
    # A head the route takes gets 100 Continue, then the answer to its body.
    with api.connect() as s:
        s.sendall(f"PUT /api/v1/carts/{cart}/items/{product} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n".encode()
                  + jsonType + b"Content-Length: 14\r\n\r\n")
        assert s.read_response()[0] == 100
        s.sendall(b'{"quantity":1}')
        assert s.read_response()[0] == 200
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["itemCount"] == 1
    # Compressed bytes are not read as JSON (RFC 9110 §12.5.3): 415, saying which coding is taken.
    r = requests.put(f"{api.url}/api/v1/carts/{cart}/items/{product}", data=gzip.compress(b'{"quantity":2}'),
                     headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert problem(r, 415) and r.headers["Accept-Encoding"] == "identity"
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["itemCount"] == 1


def test_the_body_a_method_takes_is_named_in_its_415_and_in_options(api):
    """RFC 5789 §2.2 and §3.1: a PATCH refused for its media type, and OPTIONS on a resource
    that takes PATCH, name the types in Accept-Patch; POST does the same with Accept-Post
    (W3C LDP §7.1). Accept is a request field and no answer carries it."""
    text = {"Content-Type": "text/plain"}
    product = make_product(api)
    r = requests.patch(f"{api.url}/api/v1/products/{product['id']}", data='{"priceCents": 1}', headers={**ADMIN, **text})
    assert problem(r, 415) and r.headers["Accept-Patch"] == "application/json" and "Accept" not in r.headers
    r = requests.post(api.url + "/api/v1/orders", data="{}", headers=text)
    assert problem(r, 415) and r.headers["Accept-Post"] == "application/json" and "Accept" not in r.headers
    r = requests.put(f"{api.url}/api/v1/carts/{make_cart(api)}/items/{product['id']}", data='{"quantity": 1}', headers=text)
    assert problem(r, 415) and not {"Accept", "Accept-Post", "Accept-Patch"} & set(r.headers)
    options = {path: requests.options(api.url + path) for path in
               [f"/api/v1/products/{product['id']}", "/api/v1/products", "/api/v1/carts", "/api/v1/orders/x"]}
    assert all(r.status_code == 204 for r in options.values())
    assert options[f"/api/v1/products/{product['id']}"].headers["Accept-Patch"] == "application/json"
    assert options["/api/v1/products"].headers["Accept-Post"] == "application/json"
    assert options["/api/v1/orders/x"].headers["Accept-Patch"] == "application/json"
    assert "Accept-Post" not in options["/api/v1/carts"].headers, "a new cart takes no body"

def test_create_patch_delete_product(api):
    sku = unique()
    r = requests.post(api.url + "/api/v1/products", headers=ADMIN,
                      json={"sku": sku, "name": "Lamp", "category": "home-goods", "priceCents": 4500, "stock": 3})
    assert r.status_code == 201 and r.headers["Location"] == f"/api/v1/products/{r.json()['id']}"
    pid = r.json()["id"]
    problem(requests.post(api.url + "/api/v1/products", headers=ADMIN,
                          json={"sku": sku, "name": "Again", "category": "home-goods", "priceCents": 1, "stock": 1}), 409)
    patched = requests.patch(f"{api.url}/api/v1/products/{pid}", headers=ADMIN, json={"priceCents": 3900, "stock": 8, "unknown": 1})
    assert patched.status_code == 200 and patched.json()["priceCents"] == 3900 and patched.json()["stock"] == 8
    problem(requests.patch(f"{api.url}/api/v1/products/999999999", headers=ADMIN, json={"stock": 1}), 404)
    assert requests.delete(f"{api.url}/api/v1/products/{pid}", headers=ADMIN).status_code == 204
    problem(requests.delete(f"{api.url}/api/v1/products/999999999", headers=ADMIN), 404)


def test_each_of_racing_patches_answers_with_the_product_as_it_left_it(api):
    # Two admins set the same product's price at once, each to prices of its own: each
    # answer must show its own price, not the other's that committed just after it.
    pid = make_product(api)["id"]

    def set_prices(first):
        wrong = []
        with requests.Session() as http:
            for price in range(first, first + 400, 2):
                r = http.patch(f"{api.url}/api/v1/products/{pid}", headers=ADMIN, json={"priceCents": price})
                assert r.status_code == 200, r.text
                if r.json()["priceCents"] != price:
                    wrong.append((price, r.json()["priceCents"]))
        return wrong

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        wrong = [w for ws in pool.map(set_prices, [1000, 1001]) for w in ws]
    assert not wrong, f"{len(wrong)} of 400 answers showed another request's price, e.g. (set, shown) {wrong[:5]}"


def test_product_changes_that_cannot_be_made_are_refused_not_dropped(api):
    """A field the server would not store gets 422, never a 200 that silently ignored
    it: the admin learns the change was not made."""
    draft = requests.post(api.url + "/api/v1/products", headers=ADMIN,
                          json={"sku": unique(), "name": "Draft", "category": "home-goods", "priceCents": 100, "stock": 1,
                                "active": False})
    assert draft.status_code == 201 and draft.json()["active"] is False
    problem(requests.get(f"{api.url}/api/v1/products/{draft.json()['id']}"), 404)
    product = make_product(api)
    url = f"{api.url}/api/v1/products/{product['id']}"
    for change, field in [({"sku": unique(), "stock": 9}, "sku"), ({"currency": "EUR", "stock": 9}, "currency")]:
        errors = problem(requests.patch(url, headers=ADMIN, json=change), 422)["errors"]
        assert [e["field"] for e in errors] == [field]
    assert requests.get(url).json() == product
    # What GET gave can be sent back with a change: its own sku and currency pass.
    sent_back = requests.patch(url, headers=ADMIN, json={**product, "stock": 9})
    assert sent_back.status_code == 200 and sent_back.json()["stock"] == 9 and sent_back.json()["sku"] == product["sku"]


def test_product_validation_names_every_bad_field(api):
    body = problem(requests.post(api.url + "/api/v1/products", headers=ADMIN,
                                 json={"sku": "bad sku!", "name": "", "category": "Not A Slug", "priceCents": -1, "stock": 1.5,
                                       "imageUrl": "http://[broken/x.png"}), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"sku", "name", "category", "priceCents", "stock", "imageUrl"} <= fields


def test_strings_are_judged_and_stored_as_sent(api):
    """The spec's maxLength and patterns describe the value as sent: nothing is trimmed
    first, so surrounding whitespace cannot slip a value past them."""
    def create(**fields):
        body = {"sku": unique(), "name": "Lamp", "category": "home-goods", "priceCents": 100, "stock": 1, **fields}
        return requests.post(api.url + "/api/v1/products", headers=ADMIN, json=body)
    for field, value in [("sku", " " + unique()), ("category", "home-goods "), ("imageUrl", " /images/x.svg"),
                         ("name", "x" * 200 + " "), ("name", "   "), ("name", "\tLamp"), ("description", "\tLamp")]:
        errors = problem(create(**{field: value}), 422)["errors"]
        assert [e["field"] for e in errors] == [field], (field, value)
    padded = create(name="  Lamp  ")
    assert padded.status_code == 201 and padded.json()["name"] == "  Lamp  "
    cart = make_cart(api, [(make_product(api)["id"], 1)])
    blank = order_body(cart)
    blank["customer"]["name"] = "  "
    blank["shippingAddress"]["country"] = " DE"
    fields = {e["field"] for e in problem(requests.post(api.url + "/api/v1/orders", json=blank), 422)["errors"]}
    assert fields == {"customer.name", "shippingAddress.country"}


# --- carts ---------------------------------------------------------------------

def test_cart_lines_and_totals(api):
    p1 = make_product(api, priceCents=1250, stock=5)
    p2 = make_product(api, priceCents=999, stock=5)
    r = requests.post(api.url + "/api/v1/carts")
    assert r.status_code == 201 and r.headers["Location"].endswith(r.json()["id"])
    cart = r.json()
    assert cart["status"] == "open" and cart["items"] == [] and cart["subtotalCents"] == 0
    assert len(cart["id"]) >= 22
    url = f"{api.url}/api/v1/carts/{cart['id']}"
    requests.put(f"{url}/items/{p1['id']}", json={"quantity": 2})
    c = requests.put(f"{url}/items/{p2['id']}", json={"quantity": 3}).json()
    assert c["itemCount"] == 5 and c["subtotalCents"] == 2 * 1250 + 3 * 999
    assert [(i["productId"], i["lineTotalCents"]) for i in c["items"]] == [(p1["id"], 2500), (p2["id"], 2997)]
    c = requests.put(f"{url}/items/{p1['id']}", json={"quantity": 0}).json()
    assert [i["productId"] for i in c["items"]] == [p2["id"]]
    c = requests.delete(f"{url}/items/{p2['id']}")
    assert c.status_code == 200 and c.json()["items"] == []


def test_cart_lines_keep_the_order_they_were_added_in(api):
    a, b, c = (make_product(api, stock=5)["id"] for _ in range(3))
    url = f"{api.url}/api/v1/carts/{make_cart(api)}"
    for product in (c, a, b):
        requests.put(f"{url}/items/{product}", json={"quantity": 1})
        time.sleep(0.005)  # added_at has millisecond precision
    changed = requests.put(f"{url}/items/{c}", json={"quantity": 4}).json()
    assert [i["productId"] for i in changed["items"]] == [c, a, b], "a new quantity does not move a line"
    assert [i["productId"] for i in requests.get(url).json()["items"]] == [c, a, b]


def test_a_cart_changes_in_the_millisecond_it_was_written(api):
    # Writes to one cart from several clients at once land in the same
    # millisecond (the precision of updated_at): touching a cart with the time
    # it already holds must still count as finding it, not as "already ordered".
    p = make_product(api, stock=1000)["id"]
    cart = make_cart(api)
    put = (f"PUT /api/v1/carts/{cart}/items/{p} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           "Content-Length: 15\r\n\r\n{\"quantity\": 1}").encode()
    start = threading.Barrier(6)

    def client():
        with api.connect(timeout=30) as s:
            start.wait()
            s.sendall(put * 15)
            return [s.read_response() for _ in range(15)]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = [a for answers in pool.map(lambda _: client(), range(6)) for a in answers]
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} failed, e.g. {failed[0][2]!r}"


def test_cart_times_never_go_back_when_clocks_disagree(api):
    # A cart is created with the API server's clock and changed with the database's;
    # here the server's clock ran an hour ahead when it made the cart.
    cart = make_cart(api)
    assert sql(f"UPDATE carts SET created_at = created_at + INTERVAL 1 HOUR, updated_at = updated_at + INTERVAL 1 HOUR WHERE id = '{cart}'").wait() == 0
    p = make_product(api, stock=5)["id"]
    changed = requests.put(f"{api.url}/api/v1/carts/{cart}/items/{p}", json={"quantity": 1}).json()
    assert changed["updatedAt"] >= changed["createdAt"]
    r = requests.post(f"{api.url}/api/v1/orders", json=order_body(cart))
    assert r.status_code == 201, r.text
    ordered = requests.get(f"{api.url}/api/v1/carts/{cart}").json()
    assert ordered["status"] == "ordered" and ordered["updatedAt"] >= ordered["createdAt"]


def test_cart_line_errors(api):
    p = make_product(api, stock=3)
    cart = make_cart(api)
    url = f"{api.url}/api/v1/carts/{cart}/items/{p['id']}"
    body = problem(requests.put(url, json={"quantity": 4}), 409)
    assert body["items"] == [{"productId": p["id"], "requested": 4, "available": 3}]
    for bad in [{"quantity": 101}, {"quantity": -1}, {"quantity": "2"}, {"quantity": 1.5}, {}, {"quantity": None},
                {"quantity": 99999999999999999999}]:
        problem(requests.put(url, json=bad), 422)
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/999999999", json={"quantity": 1}), 404)
    gone = make_product(api, stock=3)["id"]
    assert requests.delete(f"{api.url}/api/v1/products/{gone}", headers=ADMIN).status_code == 204
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/{gone}", json={"quantity": 1}), 404)
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"] == [], "nothing was written"
    problem(requests.put(f"{api.url}/api/v1/carts/AAAAAAAAAAAAAAAAAAAAAA/items/{p['id']}", json={"quantity": 1}), 404)
    problem(requests.get(f"{api.url}/api/v1/carts/not-a-cart"), 404)


def test_body_framing_errors(api):
    cart = make_cart(api)
    p = make_product(api)
    url = f"{api.url}/api/v1/carts/{cart}/items/{p['id']}"
    problem(requests.put(url, data='{"quantity": 1}'), 415)
    problem(requests.put(url, data='{"quantity": 1}', headers={"Content-Type": "text/plain"}), 415)
    problem(requests.put(url, data='{"quantity": 1', headers={"Content-Type": "application/json"}), 400)
    problem(requests.put(url, data='{"quantity": 1, "quantity": 100}', headers={"Content-Type": "application/json"}), 400)
    problem(requests.put(url, data='[1]', headers={"Content-Type": "application/json"}), 422)
    problem(requests.put(url, data=b'{"quantity": 1' + b' ' * (1024 * 1024), headers={"Content-Type": "application/json"}), 413)
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"] == []


# --- checkout and orders -------------------------------------------------------

def test_pipelined_line_writes_past_the_read_buffer_are_all_answered(api):
    # Three 700 KB bodies in one write. The server buffers about one body, so
    # once a worker has answered the first it must read on by itself: the rest
    # is already in its socket, and edge-triggered epoll will not say so again.
    cart = make_cart(api)
    product = make_product(api)
    body = json.dumps({"quantity": 1, "padding": "x" * 700_000}).encode()
    request = (f"PUT /api/v1/carts/{cart}/items/{product['id']} HTTP/1.1\r\nHost: t\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with api.connect(timeout=5) as s:
        def send_all_then_finish():
            s.sendall(request * 3)
            s.sock.shutdown(socket.SHUT_WR)
        writer = threading.Thread(target=send_all_then_finish)
        writer.start()
        assert [s.read_response()[0] for _ in range(3)] == [200, 200, 200]
        writer.join(5)
        # The FIN came while reading was paused at the cap: it must not be missed either.
        assert s.closed_by_peer()


def test_checkout_snapshots_prices_and_takes_stock(api):
    p = make_product(api, priceCents=2000, stock=5)
    cart = make_cart(api, [(p["id"], 2)])
    r = requests.post(api.url + "/api/v1/orders", json=order_body(cart))
    assert r.status_code == 201, r.text
    order = r.json()
    assert r.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert order["status"] == "pending" and order["totalCents"] == 4000 and order["itemCount"] == 2
    assert order["customer"] == {"email": "ada@example.com", "name": "Ada Lovelace"}
    assert order["shippingAddress"]["country"] == "GB"
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 3
    requests.patch(f"{api.url}/api/v1/products/{p['id']}", headers=ADMIN, json={"priceCents": 9999})
    again = requests.get(f"{api.url}/api/v1/orders/{order['id']}").json()
    assert again["items"][0]["unitPriceCents"] == 2000 and again["totalCents"] == 4000
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["status"] == "ordered"
    problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/{p['id']}", json={"quantity": 1}), 409)
    problem(requests.post(api.url + "/api/v1/orders", json=order_body(cart)), 409)


def test_checkout_all_or_nothing(api):
    plenty = make_product(api, stock=10)
    scarce = make_product(api, stock=2)
    cart = make_cart(api, [(plenty["id"], 3), (scarce["id"], 2)])
    requests.patch(f"{api.url}/api/v1/products/{scarce['id']}", headers=ADMIN, json={"stock": 1})
    body = problem(requests.post(api.url + "/api/v1/orders", json=order_body(cart)), 409)
    assert body["items"] == [{"productId": scarce["id"], "requested": 2, "available": 1}]
    assert requests.get(f"{api.url}/api/v1/products/{plenty['id']}").json()["stock"] == 10
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["status"] == "open"


def test_checkout_validation(api):
    problem(requests.post(api.url + "/api/v1/orders", json=order_body(make_cart(api))), 422)  # empty cart
    problem(requests.post(api.url + "/api/v1/orders", json=order_body("AAAAAAAAAAAAAAAAAAAAAA")), 404)
    cart = make_cart(api, [(make_product(api)["id"], 1)])
    bad = order_body(cart, email="not-an-email")
    bad["shippingAddress"]["country"] = "XX"
    del bad["shippingAddress"]["city"]
    fields = {e["field"] for e in problem(requests.post(api.url + "/api/v1/orders", json=bad), 422)["errors"]}
    assert fields == {"customer.email", "shippingAddress.country", "shippingAddress.city"}


def test_cancel_restores_stock_exactly_once(api):
    p = make_product(api, stock=4)
    order = requests.post(api.url + "/api/v1/orders", json=order_body(make_cart(api, [(p["id"], 3)]))).json()
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 1
    # Two cancels at once: exactly one restocks.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: requests.post(f"{api.url}/api/v1/orders/{order['id']}/cancel").status_code, range(4)))
    assert statuses == [200, 409, 409, 409]
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 4
    assert requests.get(f"{api.url}/api/v1/orders/{order['id']}").json()["status"] == "cancelled"


def test_admin_status_moves(api):
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    order = requests.post(api.url + "/api/v1/orders", json=order_body(make_cart(api, [(make_product(api)["id"], 1)]), email=email)).json()
    url = f"{api.url}/api/v1/orders/{order['id']}"
    problem(requests.patch(url, headers=ADMIN, json={"status": "shipped"}), 409)  # skipping paid
    problem(requests.patch(url, headers=ADMIN, json={"status": "lost"}), 422)
    for status in ["paid", "shipped", "delivered"]:
        r = requests.patch(url, headers=ADMIN, json={"status": status})
        assert r.status_code == 200 and r.json()["status"] == status
    problem(requests.patch(url, headers=ADMIN, json={"status": "pending"}), 409)
    problem(requests.post(url + "/cancel"), 409)
    listed = requests.get(api.url + "/api/v1/orders", headers=ADMIN, params={"email": email}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == order["id"]
    assert requests.get(api.url + "/api/v1/orders", headers=ADMIN, params={"email": email, "status": "pending"}).json()["total"] == 0


def test_admin_order_list_pages_whole_orders_newest_first(api):
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    products = [make_product(api, stock=50)["id"] for _ in range(3)]
    placed = []
    for n in range(5):  # one to three lines each
        cart = make_cart(api, [(pid, n + 1) for pid in products[: 1 + n % 3]])
        r = requests.post(api.url + "/api/v1/orders", json=order_body(cart, email=email))
        assert r.status_code == 201, r.text
        placed.append(r.json()["id"])
    requests.post(f"{api.url}/api/v1/orders/{placed[1]}/cancel")
    listed = []
    for offset in range(0, 6, 2):
        page = requests.get(api.url + "/api/v1/orders", headers=ADMIN, params={"email": email, "limit": 2, "offset": offset}).json()
        assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == offset
        listed += page["items"]
    # Newest first, each order whole and exactly as its own URL shows it.
    assert [o["id"] for o in listed] == placed[::-1]
    for order in listed:
        assert order == requests.get(f"{api.url}/api/v1/orders/{order['id']}").json()
    assert [len(o["items"]) for o in listed] == [2, 1, 3, 2, 1]
    cancelled = requests.get(api.url + "/api/v1/orders", headers=ADMIN, params={"email": email, "status": "cancelled"}).json()
    assert cancelled["total"] == 1 and [o["id"] for o in cancelled["items"]] == [placed[1]]


def test_admin_order_list_counts_the_orders_its_page_saw_while_checkouts_commit(api):
    # The page and its total come from one snapshot: an order committed between the
    # two reads would otherwise be counted and not listed.
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    product = make_product(api, stock=1000)["id"]
    carts = [make_cart(api, [(product, 1)]) for _ in range(60)]

    def place_orders():
        with requests.Session() as http:
            for cart in carts:
                r = http.post(api.url + "/api/v1/orders", json=order_body(cart, email=email))
                assert r.status_code == 201, r.text

    mismatches, lists = [], 0
    with concurrent.futures.ThreadPoolExecutor(1) as pool, requests.Session() as http:
        placing = pool.submit(place_orders)
        while not placing.done():
            page = http.get(api.url + "/api/v1/orders", headers=ADMIN, params={"email": email, "limit": 100}).json()
            lists += 1
            if len(page["items"]) != page["total"]:
                mismatches.append((len(page["items"]), page["total"]))
        placing.result()  # its own failure, if it had one
    assert lists > 20, lists
    assert not mismatches, f"{len(mismatches)} of {lists} pages: (listed, total) {mismatches[:5]}"


# --- concurrency ---------------------------------------------------------------

def test_no_overselling_under_concurrent_checkouts(api):
    p = make_product(api, stock=10)
    carts = [make_cart(api, [(p["id"], 1)]) for _ in range(50)]
    barrier = threading.Barrier(50)

    def checkout(cart):
        barrier.wait()
        return requests.post(api.url + "/api/v1/orders", json=order_body(cart))

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(checkout, carts))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40, statuses
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 0
    sold = sum(line["quantity"] for r in responses if r.status_code == 201 for line in r.json()["items"])
    assert sold == 10


def test_stock_adds_up_after_checkouts_cancels_and_line_changes_race(api):
    """Carts of two to four of the same four products, their lines set in random order, check out at once and
    contend for the same product rows; a third of the orders are cancelled while the rest still run, and
    another third of the carts get a line changed while they check out. Afterwards every product's stock
    plus its units in orders not cancelled is the stock it began with, each refused cart is still open,
    and each ordered cart holds exactly the lines of its order."""
    rng = random.Random(7)
    start = 15
    products = [make_product(api, stock=start)["id"] for _ in range(4)]
    carts = [make_cart(api, [(pid, rng.randint(1, 3)) for pid in rng.sample(products, rng.randint(2, 4))])
             for _ in range(30)]
    # With this seed the carts whose orders are kept ask at least 22 units of each product, whatever their
    # line changes do: some of them must be refused (and the first checkout fits, so some succeed).
    changes = {i: (rng.choice(products), rng.randint(1, 3)) for i in range(1, len(carts), 3)}
    barrier = threading.Barrier(len(carts) + len(changes))

    def checkout(i):
        barrier.wait()
        r = requests.post(api.url + "/api/v1/orders", json=order_body(carts[i]))
        if r.status_code == 201 and i % 3 == 0:
            cancel = requests.post(f"{api.url}/api/v1/orders/{r.json()['id']}/cancel")
            assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled", cancel.text
        return r

    def change(i):
        barrier.wait()
        pid, quantity = changes[i]
        return requests.put(f"{api.url}/api/v1/carts/{carts[i]}/items/{pid}", json={"quantity": quantity}).status_code

    with concurrent.futures.ThreadPoolExecutor(len(carts) + len(changes)) as pool:
        changed = {i: pool.submit(change, i) for i in changes}
        checkouts = list(pool.map(checkout, range(len(carts))))
        assert all(f.result() in (200, 409) for f in changed.values()), [f.result() for f in changed.values()]
    assert {r.status_code for r in checkouts} <= {201, 409}, [r.status_code for r in checkouts]
    assert any(r.status_code == 201 for r in checkouts) and any(r.status_code == 409 for r in checkouts)
    sold = dict.fromkeys(products, 0)
    for cart, r in zip(carts, checkouts):
        held = requests.get(f"{api.url}/api/v1/carts/{cart}").json()
        if r.status_code == 409:
            assert problem(r, 409)["items"] and held["status"] == "open"
            continue
        order = requests.get(f"{api.url}/api/v1/orders/{r.json()['id']}").json()
        lines = lambda doc: {line["productId"]: line["quantity"] for line in doc["items"]}
        assert held["status"] == "ordered" and lines(order) == lines(held)
        if order["status"] != "cancelled":
            for line in order["items"]:
                sold[line["productId"]] += line["quantity"]
    for pid in products:
        stock = requests.get(f"{api.url}/api/v1/products/{pid}").json()["stock"]
        assert stock >= 0 and stock + sold[pid] == start, (pid, stock, sold[pid])


def test_idempotent_checkout(api):
    p = make_product(api, stock=5)
    cart = make_cart(api, [(p["id"], 1)])
    key = {"Idempotency-Key": "idem-" + uuid.uuid4().hex}
    first = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers=key)
    assert first.status_code == 201
    # Same request, other whitespace and member order: replayed, nothing new created.
    text = json.dumps(dict(reversed(list(order_body(cart).items()))), indent=2)
    second = requests.post(api.url + "/api/v1/orders", data=text, headers={**key, "Content-Type": "application/json"})
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert second.content == first.content and second.headers["Location"] == first.headers["Location"]
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 4
    problem(requests.post(api.url + "/api/v1/orders", json=order_body(cart, email="other@example.com"), headers=key), 422)
    problem(requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": "x" * 256}), 400)


def test_a_header_given_twice_with_different_values_is_refused_not_guessed(api):
    """RFC 9110 §5.3: Content-Type and Idempotency-Key hold one value; which of two differing ones counts would be a guess."""
    p = make_product(api, stock=3)
    cart = make_cart(api, [(p["id"], 1)])
    body = json.dumps(order_body(cart)).encode()

    def post(fields):
        with api.connect() as c:
            c.sendall(b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), fields, body))
            return c.read_response()

    key = ("idem-" + uuid.uuid4().hex).encode()
    for fields in (b"Content-Type: application/json\r\nContent-Type: text/plain\r\n",
                   b"Content-Type: application/json\r\nIdempotency-Key: %s\r\nIdempotency-Key: other-%s\r\n" % (key, key)):
        status, headers, doc = post(fields)
        assert status == 400 and headers["content-type"] == "application/problem+json", (fields, status, doc)
        assert json.loads(doc)["type"] == "/problems/invalid-header"
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["status"] == "open"
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 3
    # The same value twice is that value.
    status, headers, doc = post(b"Content-Type: application/json\r\nContent-Type: application/json\r\n"
                                b"Idempotency-Key: %s\r\nIdempotency-Key: %s\r\n" % (key, key))
    assert status == 201, doc
    replay = requests.post(api.url + "/api/v1/orders", data=body, headers={"Content-Type": "application/json", "Idempotency-Key": key.decode()})
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.content == doc
    # A malformed key is a 400 like malformed JSON, ahead of the body's wrong values (422).
    problem(requests.post(api.url + "/api/v1/orders", json={"cartId": 5}, headers={"Idempotency-Key": "x" * 256}), 400)


def test_idempotent_failure_is_replayed_too(api):
    cart = make_cart(api)  # empty: 422
    key = {"Idempotency-Key": "idem-" + uuid.uuid4().hex}
    a = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers=key)
    b = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers=key)
    assert a.status_code == b.status_code == 422 and a.content == b.content and b.headers["Idempotent-Replayed"] == "true"


def test_concurrent_duplicates_create_exactly_one_order(api):
    p = make_product(api, stock=50)
    cart = make_cart(api, [(p["id"], 1)])
    key = {"Idempotency-Key": "idem-" + uuid.uuid4().hex}
    barrier = threading.Barrier(10)

    def post(_):
        barrier.wait()
        return requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers=key)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(post, range(10)))
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert all(r.status_code in (201, 409) for r in responses), [r.status_code for r in responses]
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 49


def test_a_repeat_while_the_first_runs_gets_409_with_retry_after(api):
    p = make_product(api, stock=5)
    cart = make_cart(api, [(p["id"], 1)])
    key = "idem-" + uuid.uuid4().hex
    # Another session holds the cart's row lock, so the first checkout waits inside its transaction.
    holder = sql(f"BEGIN; SELECT 'locked' FROM carts WHERE id = '{cart}' FOR UPDATE; DO SLEEP(3); COMMIT;", stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "locked"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(requests.post, api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": key})
        # Once the first waits for the cart's lock, it is past its key.
        deadline = time.time() + 5
        waiting = "SELECT COUNT(*) FROM information_schema.processlist WHERE command = 'Execute' AND info LIKE '%FOR UPDATE%'"
        while sql(waiting, stdout=subprocess.PIPE).communicate()[0].strip() != "1":
            assert time.time() < deadline and not first.done(), "the first checkout never waited for the cart"
            time.sleep(0.05)
        repeat = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": key})
        assert problem(repeat, 409)["type"] == "/problems/request-in-progress"
        assert repeat.headers["Retry-After"] == "1"
        assert first.result().status_code == 201
    assert holder.wait() == 0
    again = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.result().json()


def test_a_line_change_during_its_carts_checkout_waits_and_gets_409(api):
    """A cart's line change that comes while the cart checks out waits for the checkout and is then refused
    as the cart is ordered: the order and the cart keep the same lines (no line slips in after the order's
    snapshot)."""
    p, other = make_product(api, stock=5), make_product(api, stock=5)
    cart = make_cart(api, [(p["id"], 1)])
    # Another session locks the product, so the checkout waits inside its transaction with the cart locked.
    holder = sql(f"SELECT CONNECTION_ID(); BEGIN; SELECT 'locked' FROM products WHERE id = {p['id']} FOR UPDATE; DO SLEEP(120);",
                 stdout=subprocess.PIPE)
    session = holder.stdout.readline().strip()
    executing = "SELECT COUNT(*) FROM information_schema.processlist WHERE command = 'Execute'"
    released = False
    try:
        assert holder.stdout.readline().strip() == "locked"
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            checkout = pool.submit(requests.post, api.url + "/api/v1/orders", json=order_body(cart))
            deadline = time.time() + 1.5  # the sessions' lock waits end after 2 s
            while sql(executing, stdout=subprocess.PIPE).communicate()[0].strip() != "1":
                assert time.time() < deadline and not checkout.done(), "the checkout never waited for the product"
                time.sleep(0.02)
            change = pool.submit(requests.put, f"{api.url}/api/v1/carts/{cart}/items/{other['id']}", json={"quantity": 2})
            while sql(executing, stdout=subprocess.PIPE).communicate()[0].strip() != "2":
                assert time.time() < deadline and not change.done(), f"the line change did not wait: {change.result().status_code}"
                time.sleep(0.02)
            sql(f"KILL {session}").wait()
            released = True
            assert checkout.result().status_code == 201, checkout.result().text
            assert problem(change.result(), 409)["type"] == "/problems/cart-ordered"
    finally:
        if not released:
            sql(f"KILL {session}").wait()
        holder.wait()
    order = requests.get(f"{api.url}/api/v1/orders/{checkout.result().json()['id']}").json()
    lines = requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"]
    assert [(l["productId"], l["quantity"]) for l in lines] == [(l["productId"], l["quantity"]) for l in order["items"]] == [(p["id"], 1)]


def test_a_lock_held_elsewhere_ends_in_503_after_bounded_retries(api):
    """Another session locks a product and does not let go: each checkout attempt
    waits at most 2 s for it (the sessions' innodb_lock_wait_timeout, not InnoDB's
    50 s), the transaction is tried 4 times in all, and the answer is a 503 after
    about 8 s, with nothing changed."""
    def retries():
        metrics = requests.get(api.url + "/metrics").text
        return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("db_transaction_retries_total")))
    p = make_product(api, stock=5)
    cart = make_cart(api, [(p["id"], 1)])
    holder = sql(f"SELECT CONNECTION_ID(); BEGIN; SELECT 'locked' FROM products WHERE id = {p['id']} FOR UPDATE; DO SLEEP(120);",
                 stdout=subprocess.PIPE)
    session = holder.stdout.readline().strip()
    try:
        assert holder.stdout.readline().strip() == "locked"
        before, start = retries(), time.time()
        r = requests.post(api.url + "/api/v1/orders", json=order_body(cart), timeout=60)
        elapsed = time.time() - start
        assert problem(r, 503) and r.headers["Retry-After"]
        assert retries() - before == 3  # four attempts, each ended by a lock-wait timeout
        assert 6 < elapsed < 12, f"{elapsed:.1f} s: expected four waits of 2 s"
    finally:
        sql(f"KILL {session}").wait()
        holder.wait()
    assert requests.get(f"{api.url}/api/v1/carts/{cart}").json()["status"] == "open"
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 5
    assert requests.post(api.url + "/api/v1/orders", json=order_body(cart)).status_code == 201


# --- hostile input -------------------------------------------------------------

def test_hostile_inputs_get_4xx_and_change_nothing(api):
    p = make_product(api, stock=7)
    cart = make_cart(api, [(p["id"], 1)])
    before = requests.get(f"{api.url}/api/v1/carts/{cart}").json()
    url = f"{api.url}/api/v1/carts/{cart}/items/{p['id']}"
    hostile = ['{"quantity": 1e309}', '{"quantity": -99999999999999999999999}', '{"quantity": "1; DROP TABLE carts"}',
               '{"quantity": [1]}', '{"quantity": {"$gt": 0}}', '{"quantity": true}', '{"quantity": 1, "quantity": 2}',
               '{"quantity": 0x10}', '{"quantity": NaN}', '"\\u0000"', '{"quantity": "' + "x" * 10240 + '"}']
    for body in hostile:
        r = requests.put(url, data=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:40], r.status_code)
        assert r.headers["Content-Type"] == "application/problem+json"
    long_name = {"sku": unique(), "name": "x" * 10240, "category": "testing", "priceCents": 1, "stock": 1}
    problem(requests.post(api.url + "/api/v1/products", json=long_name, headers=ADMIN), 422)
    sqlish = order_body(cart, email="a@b.co")
    sqlish["customer"]["name"] = "Robert'); DROP TABLE orders;-- 😀 Ünïcödé"
    sqlish["shippingAddress"]["line1"] = "\u0000"
    problem(requests.post(api.url + "/api/v1/orders", json=sqlish), 422)
    r = requests.get(api.url + "/api/v1/products", params={"q": "' OR 1=1 --"})
    assert r.status_code == 200 and r.json()["items"] == []
    after = requests.get(f"{api.url}/api/v1/carts/{cart}").json()
    assert after["items"] == before["items"] and after["status"] == "open"
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 7


def test_unicode_is_stored_verbatim(api):
    name = "Ünïcödé café ☕ 日本語 😀"
    p = make_product(api, name=name, description="It's \"quoted\" and back\\slashed; DROP TABLE products;")
    got = requests.get(f"{api.url}/api/v1/products/{p['id']}").json()
    assert got["name"] == name and got["description"].endswith("DROP TABLE products;")


def test_every_response_has_a_request_id_and_head_works(api):
    for r in [requests.get(api.url + "/api/v1/categories"), requests.get(api.url + "/api/v1/nope"),
              requests.head(api.url + "/api/v1/products"), requests.delete(api.url + "/api/v1/categories")]:
        assert r.headers.get("X-Request-Id")
    r = requests.delete(api.url + "/api/v1/categories")
    problem(r, 405)
    assert "GET" in r.headers["Allow"]


def test_carts_orders_and_admin_answers_are_never_cached(api):
    p = make_product(api, stock=5)
    created = requests.post(api.url + "/api/v1/carts")
    cart = created.json()["id"]
    line = requests.put(f"{api.url}/api/v1/carts/{cart}/items/{p['id']}", json={"quantity": 1})
    order = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": unique("nocache")})
    replay = requests.post(api.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": order.request.headers["Idempotency-Key"]})
    oid = order.json()["id"]
    answers = [created, line, requests.get(f"{api.url}/api/v1/carts/{cart}"), order, replay,
               requests.get(f"{api.url}/api/v1/orders/{oid}"), requests.get(f"{api.url}/api/v1/orders/{'A' * 22}"),
               requests.get(api.url + "/api/v1/orders", headers=ADMIN), requests.get(api.url + "/api/v1/orders"),
               requests.patch(f"{api.url}/api/v1/products/{p['id']}", headers=ADMIN, json={"stock": 6})]
    assert [r.status_code for r in answers] == [201, 200, 200, 201, 201, 200, 404, 200, 401, 200]
    for r in answers:
        assert r.headers.get("Cache-Control") == "no-store", (r.request.method, r.url, r.headers)
    # The public catalog may be kept, and revalidated before each use.
    assert requests.get(f"{api.url}/api/v1/products/{p['id']}").headers["Cache-Control"] == "no-cache"


def test_a_cart_holds_at_most_50_products(api):
    products = [make_product(api, stock=5)["id"] for _ in range(51)]
    cart = make_cart(api, [(pid, 1) for pid in products[:50]])
    body = problem(requests.put(f"{api.url}/api/v1/carts/{cart}/items/{products[50]}", json={"quantity": 1}), 422)
    assert body["errors"][0]["field"] == "productId"
    lines = requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"]
    assert len(lines) == 50 and products[50] not in {line["productId"] for line in lines}
    # Changing a line already there is still fine at the limit.
    assert requests.put(f"{api.url}/api/v1/carts/{cart}/items/{products[0]}", json={"quantity": 2}).status_code == 200


def test_every_problem_type_resolves_to_a_page_that_explains_it(api):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.yaml")) as f:
        types = re.search(r"enum: \[about:blank, ([^\]]*)\]", f.read()).group(1).replace("\n", " ").split(",")
    types = [t.strip() for t in types]
    assert len(types) == 12 and all(t.startswith("/problems/") for t in types), types
    for t in types:
        page = requests.get(api.url + t)
        assert page.status_code == 200, t
        assert page.headers["Content-Type"] == "text/html; charset=utf-8" and page.headers["Cache-Control"] == "no-cache"
        assert re.search(r"<h1>[^<]+</h1>", page.text) and "HTTP status " in page.text, page.text
        assert requests.get(api.url + t, headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
        head = requests.head(api.url + t)
        assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == page.headers["ETag"]
    problem(requests.get(api.url + "/problems/no-such-type"), 404)
    assert problem(requests.post(api.url + "/problems/not-found"), 405) and requests.post(api.url + "/problems/x").headers["Allow"] == "GET, HEAD"
    # The type of a document seen here resolves against the request's URL to that page.
    body = problem(requests.get(api.url + "/api/v1/products/0"), 404)
    assert f"<h1>{body['title']}</h1>" in requests.get(urllib.parse.urljoin(api.url + "/api/v1/products/0", body["type"])).text


def test_the_root_says_where_to_go(api):
    # `curl http://127.0.0.1:8080/` is where a developer starts: every path it names answers.
    index = requests.get(api.url + "/").json()
    assert index["api"] == "/api/v1" and index["service"] == "storefront"
    for name in ("openapi", "products", "health", "readiness", "metrics"):
        assert requests.get(api.url + index[name]).status_code == 200, name

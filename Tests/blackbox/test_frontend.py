"""The shop in a real browser (headless Chromium), through nginx, against the
real backend and database. Screenshots of each step go to tmp/screenshots/."""
import contextlib
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from selenium_axe_python import Axe

from conftest import ADMIN, FRONTEND, free_port, make_cart, make_product, mariadb, nginx, order_body, unique

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHOTS = os.path.join(ROOT, "tmp", "screenshots")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"]:
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


class Page:
    def __init__(self, driver, base):
        self.d, self.base, self.step = driver, base, 0

    def go(self, path):
        self.d.get(self.base + path)

    def wait(self, css, timeout=10):
        return WebDriverWait(self.d, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def wait_text(self, css, text, timeout=10):
        WebDriverWait(self.d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        return self.d.find_element(By.CSS_SELECTOR, css)

    def place_order(self, email="ada@example.com"):
        """Opens the checkout, fills the form and places the order."""
        self.go("/#/checkout")
        self.wait("[data-testid=checkout-form]")
        for name, value in {"name": "Ada", "email": email, "line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"}.items():
            self.d.find_element(By.ID, f"f-{name}").send_keys(value)
        self.d.find_element(By.CSS_SELECTOR, "[data-testid=place-order]").click()

    def all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def shot(self, name):
        self.step += 1
        self.d.save_screenshot(os.path.join(SHOTS, f"{self.step:02d}-{name}.png"))


def test_browse_search_cart_checkout_cancel(api, web, browser):
    tag = uuid.uuid4().hex[:6]
    category = f"ui-{tag}"
    lamp = make_product(api, name=f"Lantern {tag}", category=category, priceCents=2500, stock=10, imageUrl="/images/outdoor.svg")
    mug = make_product(api, name=f"Mug {tag}", category=category, priceCents=1200, stock=10, imageUrl="/images/home.svg")
    p = Page(browser, web)
    browser.execute_script("localStorage.clear()") if browser.current_url.startswith("http") else None

    p.go("/")
    p.wait("[data-testid=product-grid]")
    p.shot("catalog")
    search = browser.find_element(By.ID, "search-q")
    search.send_keys(tag)
    search.submit()
    p.wait_text(".results-head h1", tag)
    cards = p.all("[data-testid=product-card]")
    assert {c.get_attribute("data-product-id") for c in cards} == {str(lamp["id"]), str(mug["id"])}
    p.shot("search")

    names = {str(lamp["id"]): lamp["name"], str(mug["id"]): mug["name"]}
    for card in p.all("[data-testid=product-card]"):
        add = card.find_element(By.CSS_SELECTOR, "[data-testid=add-to-cart]")
        assert add.accessible_name == f"Add to cart: {names[card.get_attribute('data-product-id')]}"
        add.click()
        p.wait_text("#notice", "Added")
    p.wait_text("#cart-count", "2")
    p.shot("added-two")

    browser.find_element(By.CSS_SELECTOR, "[data-testid=cart-link]").click()
    p.wait("[data-testid=cart-line]")
    assert len(p.all("[data-testid=cart-line]")) == 2
    assert browser.title == "Your cart · Storefront"  # each view is titled by its heading
    assert search.get_attribute("value") == ""  # the search belongs to the listing, not to the cart
    quantity = browser.find_element(By.CSS_SELECTOR, f"[data-product-id='{lamp['id']}'] [data-testid=line-quantity]")
    quantity.clear()
    quantity.send_keys("3\n")
    p.wait_text("[data-testid=cart-subtotal]", "$87.00")  # 3 × 25.00 + 12.00
    p.shot("cart")

    browser.find_element(By.CSS_SELECTOR, "[data-testid=go-checkout]").click()
    p.wait("[data-testid=checkout-form]")
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=checkout-total]").text == "Total: $87.00 (4 items)"
    assert browser.title == "Check out · Storefront"
    fields = {"name": "Ada Lovelace", "email": "ada@example.com", "line1": "12 Analytical Row", "city": "London",
              "postalCode": "N1 9GU", "country": "gb"}
    for name, value in fields.items():
        browser.find_element(By.ID, f"f-{name}").send_keys(value)
    p.shot("checkout")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=place-order]").click()
    p.wait("[data-testid=order-confirmation]")
    order_id = browser.find_element(By.CSS_SELECTOR, "[data-testid=order-id]").text
    assert browser.title == f"Order {order_id} · Storefront"
    placed = browser.find_element(By.CSS_SELECTOR, "[data-testid=order-placed]")
    assert placed.get_attribute("datetime") == requests.get(f"{api.url}/api/v1/orders/{order_id}").json()["createdAt"] and placed.text
    p.shot("confirmation")

    order = requests.get(f"{api.url}/api/v1/orders/{order_id}").json()
    assert order["status"] == "pending" and order["totalCents"] == 8700
    assert {(i["productId"], i["quantity"]) for i in order["items"]} == {(lamp["id"], 3), (mug["id"], 1)}
    assert browser.find_element(By.ID, "cart-count").text == "0"

    browser.find_element(By.CSS_SELECTOR, "[data-testid=cancel-order]").click()
    browser.switch_to.alert.accept()
    p.wait_text("[data-testid=order-status]", "cancelled")
    p.shot("cancelled")
    assert requests.get(f"{api.url}/api/v1/orders/{order_id}").json()["status"] == "cancelled"
    assert requests.get(f"{api.url}/api/v1/products/{lamp['id']}").json()["stock"] == 10


def contrast_on_white(css_rgb):
    """WCAG 2's contrast ratio of an `rgb(r, g, b)` colour against white."""
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(x) for x in re.findall(r"\d+", css_rgb)[:3])
    return 1.05 / (0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) + 0.05)


def test_a_shopper_can_buy_with_the_keyboard_alone(api, web, browser):
    """Tab, type and Enter only, from a product page to the confirmation; every
    control that takes the focus shows it."""
    item = make_product(api, name=f"Keyboard {uuid.uuid4().hex[:6]}", priceCents=1500, stock=5)
    p = Page(browser, web)
    p.go(f"/#/product/{item['id']}")
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    p.wait("[data-testid=product] [data-testid=add-to-cart]")
    keys = ActionChains(browser)

    def tab_to(css, limit=60):
        for _ in range(limit):
            keys.send_keys(Keys.TAB).perform()
            focused = browser.switch_to.active_element
            if focused.tag_name == "body":
                continue  # past the last control, on its way round to the first
            style = browser.execute_script("const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.boxShadow, s.outlineColor]", focused)
            assert style[:2] != ["none", "none"], f"no visible focus on {focused.get_attribute('outerHTML')[:120]}"
            if style[0] != "none":  # WCAG 1.4.11: the ring stands 3:1 against white, the lightest background here
                assert contrast_on_white(style[2]) >= 3, (style[2], focused.get_attribute("outerHTML")[:120])
            if browser.execute_script("return arguments[0].matches(arguments[1])", focused, css):
                return focused
        raise AssertionError(f"{css} cannot be reached with Tab")

    # "Skip to content" moves the focus past the header and leaves the page as it was.
    tab_to(".skip")
    keys.send_keys(Keys.ENTER).perform()
    assert browser.execute_script("return document.activeElement.id") == "main"
    assert browser.execute_script("return location.hash") == f"#/product/{item['id']}"
    assert p.all("[data-testid=product] [data-testid=add-to-cart]") and not p.all("[data-testid=page-not-found]")
    tab_to("[data-testid=product] [data-testid=add-to-cart]")
    keys.send_keys(Keys.ENTER).perform()
    p.wait_text("#notice", "Added")
    tab_to("[data-testid=cart-link]")
    keys.send_keys(Keys.ENTER).perform()
    p.wait("[data-testid=cart-line]")
    tab_to("[data-testid=go-checkout]")
    keys.send_keys(Keys.ENTER).perform()
    p.wait("[data-testid=checkout-form]")
    for name, value in {"email": "keys@example.com", "name": "Ada", "line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"}.items():
        edge = browser.execute_script("return getComputedStyle(arguments[0]).borderTopColor", browser.find_element(By.ID, f"f-{name}"))
        assert contrast_on_white(edge) >= 3, (name, edge)  # an empty field can be found
        tab_to(f"#f-{name}")
        keys.send_keys(value).perform()
    tab_to("[data-testid=place-order]")
    keys.send_keys(Keys.ENTER).perform()
    p.wait("[data-testid=order-confirmation]")
    order = requests.get(f"{api.url}/api/v1/orders/{browser.find_element(By.CSS_SELECTOR, '[data-testid=order-id]').text}").json()
    assert order["customer"]["email"] == "keys@example.com" and order["items"][0]["productId"] == item["id"]


def test_category_sort_pages_a_cart_that_survives_a_reload_and_order_look_up(api, web, browser):
    tag = uuid.uuid4().hex[:6]
    category = f"pages-{tag}"
    # 14 products: two pages of 12. Prices go down as names go up, so each sort shows.
    products = [make_product(api, name=f"Item {tag} {n:02d}", category=category, priceCents=5000 - n * 100) for n in range(14)]
    p = Page(browser, web)
    p.go("/")
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    p.wait("[data-testid=product-grid]")
    browser.find_element(By.CSS_SELECTOR, f"[data-testid=category][href*='category={category}']").click()
    p.wait_text(".pager", "Page 1 of 2 · 14 products")

    def names():  # read at once: the grid is replaced as the view re-renders
        return browser.execute_script("return [...document.querySelectorAll('[data-testid=product-card] h2')].map(e => e.textContent)")

    Select(browser.find_element(By.CSS_SELECTOR, "[data-testid=sort]")).select_by_value("price")
    WebDriverWait(browser, 10).until(lambda d: names() and names()[0] == f"Item {tag} 13")
    assert names() == [f"Item {tag} {n:02d}" for n in range(13, 1, -1)]
    browser.find_element(By.CSS_SELECTOR, "[data-testid=next-page]").click()
    WebDriverWait(browser, 10).until(lambda d: names() == [f"Item {tag} 01", f"Item {tag} 00"])
    assert "Page 2 of 2" in browser.find_element(By.CSS_SELECTOR, ".pager").text

    # The cart is kept across a reload (its id in localStorage); a line can be removed.
    for count, button in enumerate(p.all("[data-testid=add-to-cart]"), 1):
        button.click()
        p.wait_text("#cart-count", str(count))
    browser.refresh()
    p.wait_text("#cart-count", "2")
    p.go("/#/cart")
    p.wait("[data-testid=cart-line]")
    remove = browser.find_element(By.CSS_SELECTOR, f"[data-product-id='{products[0]['id']}'] [data-testid=remove-line]")
    assert remove.accessible_name == f"Remove {products[0]['name']}"  # not one "Remove" per line to a screen reader
    remove.click()
    p.wait_text("#cart-count", "1")
    lines = "return [...document.querySelectorAll('[data-testid=cart-line]')].map(e => e.dataset.productId)"
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(lines) == [str(products[1]["id"])])

    # An order found again by its id.
    p.place_order(email=f"lookup-{tag}@example.com")
    order_id = p.wait("[data-testid=order-id]").text
    p.go("/#/orders")
    lookup = p.wait("[data-testid=lookup-id]")
    lookup.send_keys(order_id + "\n")
    p.wait_text("[data-testid=order-status]", "pending")
    assert order_id in browser.find_element(By.CSS_SELECTOR, "[data-testid=order]").text


def test_a_cart_quantity_of_0_removes_the_line_and_one_out_of_range_is_put_back(api, web, browser):
    kept, dropped = make_product(api, name=f"Kept {uuid.uuid4().hex[:6]}"), make_product(api, name=f"Dropped {uuid.uuid4().hex[:6]}")
    cart = make_cart(api, [(kept["id"], 2), (dropped["id"], 1)])
    p = Page(browser, web)
    p.go("/")
    browser.execute_script("localStorage.setItem('storefront.cartId', arguments[0])", cart)
    p.go("/#/cart")
    p.wait("[data-testid=cart-line]")

    def quantity(product):
        return browser.find_element(By.CSS_SELECTOR, f"[data-product-id='{product['id']}'] [data-testid=line-quantity]")

    for typed in ["150", "2.5", "-1"]:
        field = quantity(kept)
        field.clear()
        field.send_keys(typed + "\t")
        p.wait_text("#notice", "Quantities go from 1 to 100")
        assert quantity(kept).get_attribute("value") == "2", typed  # what the cart holds, not what was typed
        browser.execute_script("document.getElementById('notice').textContent = ''")
    field = quantity(dropped)
    field.clear()
    field.send_keys("0\t")
    p.wait_text("#notice", f"Removed {dropped['name']}")
    p.wait_text("#cart-count", "2")
    lines = requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"]
    assert [(line["productId"], line["quantity"]) for line in lines] == [(kept["id"], 2)]


@contextlib.contextmanager
def on_every_page(browser, source):
    """Runs the script `source` first in every document the browser opens, until the
    block ends; the page is then loaded again without it."""
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
        browser.refresh()


def slow_fetch(condition):
    """A script holding back by 1.5 s each fetch for which `condition`, JavaScript on
    `url` and `init`, holds: a slow network for one kind of request."""
    return ("const send = window.fetch; window.fetch = (url, init) => (" + condition + ")"
            " ? new Promise((done) => setTimeout(done, 1500)).then(() => send(url, init)) : send(url, init);")


def test_a_slow_page_cannot_replace_the_one_asked_for_after_it(api, web, browser):
    """A shopper who clicks on before the catalog has come sees the page clicked, not
    the catalog arriving late over it."""
    with on_every_page(browser, slow_fetch("String(url).includes('/products?')")):
        p = Page(browser, web)
        p.go("/#/orders")
        browser.refresh()  # a new document, which the script runs in
        p.wait("[data-testid=lookup-id]")
        browser.execute_script("location.hash = '#/'")  # the catalog, slowed
        browser.execute_script("location.hash = '#/orders'")  # and on before it came
        time.sleep(2.5)
        assert p.all("[data-testid=lookup-id]") and not p.all("[data-testid=product-grid]")
        assert browser.title == "Find an order · Storefront"
        assert not p.all("main[aria-busy]")  # nor does the late one's wait mark the page asked for after it


def test_a_slow_page_says_it_is_coming(api, web, browser):
    """A product page held back by the network: the catalog stays on screen, marked busy
    and saying "Loading…", until the product comes; then the mark goes."""
    item = make_product(api, name=f"Slowpoke {uuid.uuid4().hex[:6]}", stock=5)
    with on_every_page(browser, slow_fetch(f"String(url).endsWith('/products/{item['id']}')")):
        p = Page(browser, web)
        p.go("/#/")
        browser.refresh()  # a new document, which the script runs in
        p.wait("[data-testid=product-grid]")
        assert not p.all("main[aria-busy]")
        browser.execute_script(f"location.hash = '#/product/{item['id']}'")
        busy = p.wait("main[aria-busy=true]", timeout=1.2)
        assert p.all("[data-testid=product-grid]")  # the page it came from, until the next is there
        assert browser.execute_script("return getComputedStyle(arguments[0], '::before').content", busy) == '"Loading…"'
        p.shot("loading")
        p.wait("[data-testid=product]")
        assert not p.all("main[aria-busy]")
        # A page that comes at once (this one needs no fetch) is never marked, so nothing flickers.
        browser.execute_script("""const main = document.getElementById('main'); window.marked = false;
            new MutationObserver((changes) => { window.marked ||= changes.length > 0; }).observe(main, { attributeFilter: ['aria-busy'] });
            location.hash = '#/orders';""")
        p.wait("[data-testid=lookup-id]")
        time.sleep(0.5)
        assert not browser.execute_script("return window.marked")


def test_two_quick_adds_on_a_first_visit_make_one_cart_holding_both(api, web, browser):
    """A double click sends its second add before the first has answered: it must wait
    for the first's cart, not make a second one, and must count its unit."""
    item = make_product(api, name=f"Twice {uuid.uuid4().hex[:6]}", stock=5)
    p = Page(browser, web)
    p.go(f"/#/product/{item['id']}")
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    add = p.wait("[data-testid=product] [data-testid=add-to-cart]")
    browser.execute_script("arguments[0].click(); arguments[0].click()", add)
    p.wait_text("#cart-count", "2")
    cart = browser.execute_script("return localStorage.getItem('storefront.cartId')")
    lines = requests.get(f"{api.url}/api/v1/carts/{cart}").json()["items"]
    assert [(line["productId"], line["quantity"]) for line in lines] == [(item["id"], 2)]


def test_the_checkout_waits_for_an_add_still_on_its_way(api, web, browser):
    """Add, then straight to the checkout: its total must be the cart's with the add,
    which is what the order will hold."""
    item = make_product(api, name=f"Late {uuid.uuid4().hex[:6]}", priceCents=700, stock=5)
    with on_every_page(browser, slow_fetch("init?.method === 'PUT'")):
        p = Page(browser, web)
        p.go(f"/#/product/{item['id']}")
        browser.execute_script("localStorage.clear()")
        browser.refresh()
        p.wait("[data-testid=product] [data-testid=add-to-cart]").click()
        browser.execute_script("location.hash = '#/checkout'")
        p.wait("[data-testid=checkout-form]")
        assert browser.find_element(By.CSS_SELECTOR, "[data-testid=checkout-total]").text == "Total: $7.00 (1 item)"


def test_a_cancel_that_answers_after_the_shopper_moved_on_leaves_the_page_alone(api, web, browser):
    item = make_product(api, stock=5)
    order = requests.post(f"{api.url}/api/v1/orders", json=order_body(make_cart(api, [(item["id"], 1)]))).json()
    with on_every_page(browser, slow_fetch("String(url).endsWith('/cancel')")):
        p = Page(browser, web)
        p.go(f"/#/order/{order['id']}")
        browser.refresh()
        p.wait("[data-testid=cancel-order]").click()
        browser.switch_to.alert.accept()
        browser.execute_script("location.hash = '#/orders'")
        p.wait("[data-testid=lookup-id]")
        WebDriverWait(browser, 10).until(lambda d: requests.get(f"{api.url}/api/v1/orders/{order['id']}").json()["status"] == "cancelled")
        time.sleep(0.5)
        assert browser.execute_script("return location.hash") == "#/orders" and p.all("[data-testid=lookup-id]")


def test_a_cart_deleted_while_the_page_is_open_is_replaced_on_the_next_add(api, web, browser):
    """Housekeeping deletes a cart after a month without a change (or a developer
    re-seeds): the next add starts a new cart instead of showing "No cart"."""
    first, second = (make_product(api, name=f"Kept {uuid.uuid4().hex[:6]}") for _ in range(2))
    p = Page(browser, web)

    def add(product):
        # Click only once this product's page has replaced whatever was shown before.
        p.wait_text("[data-testid=product]", product["name"])
        browser.find_element(By.CSS_SELECTOR, "[data-testid=product] [data-testid=add-to-cart]").click()

    p.go(f"/#/product/{first['id']}")
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    add(first)
    p.wait_text("#cart-count", "1")
    old = browser.execute_script("return localStorage.getItem('storefront.cartId')")
    mariadb(f"DELETE FROM {os.environ['DB_NAME']}.carts WHERE id = '{old}'")
    p.go(f"/#/product/{second['id']}")
    add(second)
    p.wait_text("#notice", f"Added {second['name']}")
    assert browser.find_element(By.CSS_SELECTOR, "#cart-count").text == "1"
    new = browser.execute_script("return localStorage.getItem('storefront.cartId')")
    assert new != old and requests.get(f"{api.url}/api/v1/carts/{new}").json()["items"][0]["productId"] == second["id"]
    # A 404 for the product itself is still shown, and keeps the cart.
    requests.delete(f"{api.url}/api/v1/products/{second['id']}", headers=ADMIN)
    add(second)
    p.wait_text("#notice", "No product")
    assert browser.execute_script("return localStorage.getItem('storefront.cartId')") == new


def test_out_of_stock_add_shows_a_message(api, web, browser):
    last = make_product(api, name=f"Last One {uuid.uuid4().hex[:6]}", stock=1)
    p = Page(browser, web)
    p.go(f"/#/product/{last['id']}")
    p.wait("[data-testid=product]")
    quantity = browser.find_element(By.ID, "qty")
    quantity.clear()
    quantity.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=product] [data-testid=add-to-cart]").click()
    message = p.wait_text("#notice", f"only 1 of “{last['name']}” left")
    assert "error" in message.get_attribute("class")
    p.shot("out-of-stock")
    sold_out = make_product(api, name=f"Gone {uuid.uuid4().hex[:6]}", stock=0)
    p.go(f"/#/product/{sold_out['id']}")
    button = p.wait("[data-testid=product] [data-testid=add-to-cart]")
    assert not button.is_enabled() and "Out of stock" in browser.find_element(By.CSS_SELECTOR, "[data-testid=product]").text
    assert not browser.find_element(By.ID, "qty").is_enabled()  # nothing to choose a quantity of
    # Large numbers are grouped as the prices are.
    plenty = make_product(api, name=f"Plenty {uuid.uuid4().hex[:6]}", stock=1234567)
    p.go(f"/#/product/{plenty['id']}")
    p.wait_text("[data-testid=product]", "1,234,567 in stock")


def test_a_browser_that_refuses_storage_can_still_buy(api, web, browser):
    """With all cookies blocked, every use of localStorage throws: the shop still sells,
    and the cart then lasts as long as the page."""
    item = make_product(api, name=f"Cookieless {uuid.uuid4().hex[:6]}", stock=5)
    refuse = "Object.defineProperty(window, 'localStorage', {get() { throw new DOMException('The operation is insecure.', 'SecurityError'); }});"
    with on_every_page(browser, refuse):
        p = Page(browser, web)
        p.go(f"/#/product/{item['id']}")
        browser.refresh()  # a new document, which the script runs in
        assert browser.execute_script("try { localStorage; return false } catch (e) { return true }")
        p.wait("[data-testid=product] [data-testid=add-to-cart]").click()
        p.wait_text("#cart-count", "1")
        p.place_order()
        p.wait("[data-testid=order-confirmation]")
        order_id = browser.find_element(By.CSS_SELECTOR, "[data-testid=order-id]").text
        assert requests.get(f"{api.url}/api/v1/orders/{order_id}").json()["items"][0]["productId"] == item["id"]


def test_a_checkout_refused_for_stock_can_be_placed_once_the_cart_is_fixed(api, web, browser):
    """The shop sends an Idempotency-Key with each order; after a definite refusal
    (stock sold meanwhile) the corrected cart is a new request, not a replay of the 409."""
    item = make_product(api, name=f"Kettle {uuid.uuid4().hex[:6]}", stock=3)
    p = Page(browser, web)
    p.go(f"/#/product/{item['id']}")
    browser.execute_script("localStorage.clear()")
    browser.refresh()  # a fresh cart: the page forgets the one it holds
    quantity = p.wait("#qty")
    quantity.clear()
    quantity.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=product] [data-testid=add-to-cart]").click()
    p.wait_text("#notice", "Added")
    tea = make_product(api, name=f"Tea {uuid.uuid4().hex[:6]}", stock=10)
    p.go(f"/#/product/{tea['id']}")
    p.wait("[data-testid=product] [data-testid=add-to-cart]").click()
    p.wait_text("#cart-count", "3")
    # Someone else buys two of the three meanwhile.
    r = requests.patch(f"{api.url}/api/v1/products/{item['id']}", json={"stock": 1}, headers=ADMIN)
    assert r.status_code == 200, r.text

    p.place_order()
    notice = p.wait_text("#notice", f"only 1 of “{item['name']}” left")  # which of the cart's lines to change
    assert tea["name"] not in notice.text

    p.go("/#/cart")
    line = p.wait(f"[data-product-id='{item['id']}'] [data-testid=line-quantity]")
    line.clear()
    line.send_keys("1\n")
    p.wait_text("[data-testid=cart-subtotal]", "$20.00")  # one kettle and the tea
    p.place_order()
    p.wait("[data-testid=order-confirmation]")
    assert requests.get(f"{api.url}/api/v1/products/{item['id']}").json()["stock"] == 0


def test_bad_email_shows_the_field_error(api, web, browser):
    item = make_product(api, name=f"Pen {uuid.uuid4().hex[:6]}", stock=5)
    p = Page(browser, web)
    p.go(f"/#/product/{item['id']}")
    p.wait("[data-testid=product] [data-testid=add-to-cart]").click()
    p.wait_text("#notice", "Added")
    p.place_order(email="ada-at-example")
    error = p.wait_text("[data-testid=error-email]", "email address")
    assert browser.find_element(By.ID, "f-email").get_attribute("aria-invalid") == "true"
    assert error.text
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=checkout-total]").text.endswith("(1 item)")
    p.shot("bad-email")
    # And an error only the server finds is shown next to its field too.
    browser.find_element(By.ID, "f-email").clear()
    browser.find_element(By.ID, "f-email").send_keys("ada@example.com")
    country = browser.find_element(By.ID, "f-country")
    country.clear()
    country.send_keys("XX")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=place-order]").click()
    p.wait_text("[data-testid=error-country]", "ISO 3166")
    p.shot("server-field-error")


def test_server_unavailable_is_shown_not_a_blank_page(browser):
    with nginx("http://127.0.0.1:1") as url:
        r = requests.get(url + "/api/v1/products", headers={"X-Request-Id": "down-1"})
        assert r.status_code == 503 and r.headers["Content-Type"] == "application/problem+json"
        assert r.headers["X-Request-Id"] == "down-1" and r.headers["Retry-After"]
        p = Page(browser, url)
        p.go("/")
        p.wait_text("[data-testid=unavailable]", "unavailable")
        p.shot("unavailable")


def test_a_listing_stopped_at_its_time_limit_asks_for_a_narrower_search(browser):
    """At a very large catalog a broad search is stopped at the database's time limit
    (503 /problems/time-limit); the shop says to narrow it, not "Server unavailable".
    A backend that answers as the API does then stands in, as no test catalog is that large."""
    class TooBroad(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = 200, {"items": []}
            if self.path.startswith("/api/v1/products"):
                status, body = 503, {"type": "/problems/time-limit", "title": "Stopped at the time limit", "status": 503,
                                     "detail": "The database stopped this listing at its time limit (10 s)."}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 503:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TooBroad)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        with nginx(f"http://127.0.0.1:{stub.server_address[1]}") as url:
            p = Page(browser, url)
            p.go("/#/?q=a")
            shown = p.wait_text("[data-testid=unavailable]", "That search is too broad")
            assert "Add words to the search" in shown.text and "Server unavailable" not in shown.text
            assert not shown.find_elements(By.TAG_NAME, "button"), "the same search again would be stopped again"
    finally:
        stub.shutdown()


def test_nginx_config_and_headers(api, web):
    env = dict(os.environ, NGINX_TMP=tempfile.mkdtemp(), BACKEND_URL="http://127.0.0.1:8080", STATIC_ROOT=FRONTEND)
    check = subprocess.run([os.path.join(FRONTEND, "start"), "-t"], env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # nginx must give up an idle upstream connection before the backend does (60 s).
    with open(os.path.join(FRONTEND, "nginx.conf.template")) as f:
        upstream = re.search(r"upstream backend \{(.*?)\}", f.read(), re.S).group(1)
    assert int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1)) < 60
    index = requests.get(web + "/")
    csp = index.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert index.headers["X-Content-Type-Options"] == "nosniff" and index.headers["Referrer-Policy"]
    assert index.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in index.text and " on" not in re.sub(r"\s+", " ", index.text).replace(" one", "")
    js = requests.get(web + "/assets/app.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["Content-Encoding"] == "gzip" and "max-age=31536000" in js.headers["Cache-Control"]
    # /api/ is proxied, with the client's request id passed on; nothing else is but /problems/.
    proxied = requests.get(web + "/api/v1/categories", headers={"X-Request-Id": "ui-trace-1"})
    assert proxied.status_code == 200 and proxied.headers["X-Request-Id"] == "ui-trace-1"
    assert proxied.headers["X-Content-Type-Options"] == "nosniff"  # once, not once per tier
    # So are the pages that problem types resolve to, at the same path as on the API.
    page = requests.get(web + "/problems/insufficient-stock")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Not enough stock</h1>" in page.text and page.headers["Content-Security-Policy"] == csp  # once
    assert requests.get(web + "/problems/no-such-type").headers["Content-Type"] == "application/problem+json"
    # nginx's own 503 (no backend) uses the backend's type, so it takes that type's one title too.
    with open(os.path.join(FRONTEND, "nginx.conf.template")) as f:
        own = re.search(r'"type":"(/problems/[a-z-]+)","title":"([^"]+)"', f.read())
    assert f"<h1>{own.group(2)}</h1>" in requests.get(api.url + own.group(1)).text, own.groups()
    # A browser revalidating a compressed catalog answer sends back its ETag and gets a 304 through nginx.
    category = unique("gzip").lower()
    for _ in range(3):
        make_product(api, category=category)
    url = f"{web}/api/v1/products?category={category}"
    listing = requests.get(url, headers={"Accept-Encoding": "gzip"})
    assert listing.headers["Content-Encoding"] == "gzip" and listing.headers["ETag"].startswith('W/"')
    held = requests.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": listing.headers["ETag"]})
    assert held.status_code == 304 and held.headers["ETag"] == listing.headers["ETag"] and held.content == b""
    # One that is not sane is replaced by nginx's own, which the backend then keeps: both logs name the request alike.
    replaced = requests.get(web + "/api/v1/categories", headers={"X-Request-Id": "not sane " + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-Id"]), replaced.headers
    time.sleep(0.2)
    with open(web.access_log) as f:
        assert f'"requestId":"{replaced.headers["X-Request-Id"]}"' in f.read()
    # An HTTP/1.0 request may come without Host; the backend, asked in HTTP/1.1, still gets one.
    with socket.create_connection(web.address, timeout=5) as s:
        s.sendall(b"GET /api/v1/categories HTTP/1.0\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert requests.get(web + "/metrics").status_code == 404
    assert requests.get(web + "/readyz").status_code == 404


def test_a_path_that_is_not_the_shops_gets_the_shop_saying_page_not_found(api, web, browser):
    # Not nginx's bare 404 page: the shop itself, with the 404 status, says so.
    for path in ["/no/such/page", "/images/missing.svg", "/products/7", "/assets/", "/images/"]:
        r = requests.get(web + path)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html"), path
        assert "<title>Storefront</title>" in r.text and "script-src 'self'" in r.headers["Content-Security-Policy"], path
        assert r.headers["Cache-Control"] == "no-cache", path  # revalidated, as the shop's page always is
    r = requests.post(web + "/no/such/page")
    assert r.status_code == 404 and "<title>Storefront</title>" in r.text
    # The API's own 404s stay problem documents.
    r = requests.get(web + "/api/v1/no-such-thing")
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json" and "Cache-Control" not in r.headers
    assert requests.get(web + "/").headers["Cache-Control"] == "no-cache"  # expires -1's one header, no second
    # The slash-adding redirect keeps whatever scheme, host and port the client came in by
    # (nginx's own would be its listen port, not the one published by compose or a Service).
    r = requests.get(web + "/api", headers={"Host": "shop.example:3000"}, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/api/"
    p = Page(browser, web)
    p.go("/no/such/page#/cart")
    p.wait("[data-testid=page-not-found]")
    assert browser.current_url == web + "/"  # so the shop's links work from here
    browser.find_element(By.LINK_TEXT, "Find an order").click()
    p.wait("[data-testid=lookup-id]")
    p.go("/products/7")
    p.wait("[data-testid=page-not-found]")
    browser.find_element(By.LINK_TEXT, "Back to the shop").click()
    p.wait("[data-testid=sort]")  # the catalog


def test_a_bad_frontend_setting_is_one_line_and_exit_2():
    good = dict(os.environ, PORT="8080", BACKEND_URL="http://127.0.0.1:8080", STATIC_ROOT=FRONTEND, NGINX_TMP=tempfile.mkdtemp())
    assert subprocess.run([os.path.join(FRONTEND, "start"), "-t"], env=good, capture_output=True).returncode == 0
    for value in ["http://[::1]:8080", "http://127.0.0.1:8080/"]:
        assert subprocess.run([os.path.join(FRONTEND, "start"), "-t"], env={**good, "BACKEND_URL": value}).returncode == 0, value
    for name, value in [("BACKEND_URL", "https://api:8080"), ("BACKEND_URL", "http://api:8080/shop"), ("BACKEND_URL", "http://api:99999"),
                        ("BACKEND_URL", "http://a|b:80"), ("BACKEND_URL", "http://::1"), ("PORT", "http"), ("PORT", "99999"), ("PORT", "0"),
                        ("STATIC_ROOT", "/nonexistent"), ("NGINX_TMP", "/proc/storefront"), ("BACKEND_DNS", "always")]:
        p = subprocess.run([os.path.join(FRONTEND, "start"), "-t"], env={**good, name: value}, capture_output=True, text=True)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and f"{name}={value} is not valid" in lines[0], (name, p.stderr)


def test_a_checkout_in_a_private_home_serves_the_shop_and_large_bodies(api):
    # README: run as root or with sudo. A checkout under /root (or any 0700 home) must still
    # serve its files, and a body too large for nginx's memory buffer must reach the backend
    # through NGINX_TMP; nginx's workers would run as "nobody", who can do neither.
    home = tempfile.mkdtemp(prefix="storefront-home-")  # 0700, like /root
    try:
        shutil.copytree(FRONTEND, os.path.join(home, "frontend"))
        with nginx(f"http://127.0.0.1:{api.port}", os.path.join(home, "frontend"), os.path.join(home, "tmp")) as url:
            page = requests.get(url + "/")
            assert page.status_code == 200 and "Storefront" in page.text
            assert requests.get(url + "/assets/app.js").status_code == 200
            cart = requests.post(url + "/api/v1/carts", data=b" " * 100_000)  # the body is ignored
            assert cart.status_code == 201, cart.text[:200]
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to tell one from all")
def test_nginx_workers_are_the_cores_it_may_use():
    # nginx's own "auto" counts the host's cores; the start script counts what this process may use.
    for prefix, workers in [([], len(os.sched_getaffinity(0))), (["taskset", "-c", "0"], 1)]:
        tmp = tempfile.mkdtemp()
        env = dict(os.environ, BACKEND_URL="http://127.0.0.1:8080", STATIC_ROOT=FRONTEND, NGINX_TMP=tmp)
        assert subprocess.run([*prefix, os.path.join(FRONTEND, "start"), "-t"], env=env, capture_output=True).returncode == 0
        with open(os.path.join(tmp, "nginx.conf")) as f:
            assert f"worker_processes {workers};" in f.read()


def test_nginx_refusals_are_problem_documents_not_html(web):
    # Requests that nginx itself turns away never reach the backend; API.md still
    # promises a problem document, never an HTML page.
    cases = [
        (b"PUT /api/v1/carts/x/items/1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n", 413),
        (b"GET /api/v1/products?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /api/v1/products HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /api/v1/products HTTP/1.1\r\n\r\n", 400),
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /api/v1/carts HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /api/v1/carts HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /api/v1/products HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"TRACE /api/v1/products HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 405),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405),
        (b"DELETE /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 405),
    ]
    for request, status in cases:
        with socket.create_connection(web.address, timeout=5) as s:
            s.sendall(request)
            response = b""
            while b"\r\n\r\n" not in response:
                response += s.recv(65536)
            head, _, body = response.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            while len(body) < int(fields["content-length"]):  # nginx may keep reading an unsent body
                body += s.recv(65536)
        assert lines[0].split(" ")[1] == str(status), (request[:40], lines[0])
        assert fields["content-type"] == "application/problem+json" and fields.get("x-request-id"), (request[:40], head)
        problem = json.loads(body)
        assert problem["status"] == status and problem["type"] == "about:blank" and problem["title"] and problem["detail"], problem
        if status == 405:
            assert fields["allow"] == ("GET, HEAD, OPTIONS, POST" if b"/api/" in request else "GET, HEAD"), head


def test_trace_through_nginx_names_what_the_backend_allows(api, web):
    # nginx refuses TRACE itself, so its 405 must name each API route's methods as the
    # backend would (RFC 9110: a 405 carries Allow); the map in the template copies them.
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        paths = [line.strip()[:-1] for line in f if re.match(r"^  /(api|problems)/", line)]
    assert len(paths) >= 9, paths
    for path in paths + ["/api/v1/products?limit=5"]:
        path = re.sub(r"\{(id|productId)\}", "1", re.sub(r"\{(cartId|orderId)\}", "x", path)).replace("{type}", "not-found")
        direct = requests.request("TRACE", api.url + path)
        proxied = requests.request("TRACE", web + path)
        assert direct.status_code == proxied.status_code == 405, path
        assert proxied.headers.get("Allow") == direct.headers["Allow"], path
    # No route there: the backend's 404, as for any method, not a 405 without Allow.
    for path in ["/api/v1/nothing-here", "/api/v1/carts/x/lines", "/api/"]:
        direct = requests.request("TRACE", api.url + path)
        proxied = requests.request("TRACE", web + path)
        assert direct.status_code == proxied.status_code == 404, path
        assert proxied.headers["Content-Type"] == "application/problem+json" and proxied.json()["status"] == 404
        assert "Allow" not in proxied.headers


def test_nginx_access_log_masks_cart_and_order_ids_and_emails(api, web):
    # As in the backend's log: an id grants access to a cart or an order, an email is personal data.
    product = make_product(api, stock=5)
    cart = requests.post(web + "/api/v1/carts").json()["id"]
    assert requests.put(f"{web}/api/v1/carts/{cart}/items/{product['id']}", json={"quantity": 1}).status_code == 200
    email = f"nginx-{uuid.uuid4().hex[:8]}@example.com"
    body = {"cartId": cart, "customer": {"email": email, "name": "Ada"},
            "shippingAddress": {"line1": "1 Row", "city": "London", "postalCode": "N1", "country": "GB"}}
    order = requests.post(web + "/api/v1/orders", json=body).json()["id"]
    assert requests.post(f"{web}/api/v1/orders/{order}/cancel").status_code == 200
    assert requests.get(web + "/api/v1/orders", params={"email": email}, headers=ADMIN).json()["total"] == 1
    time.sleep(0.2)
    with open(web.access_log) as f:
        log = f.read()
    for secret in (cart, order, email):
        assert secret not in log
    for path in (f"/api/v1/carts/***/items/{product['id']}", "/api/v1/orders/***/cancel", "/api/v1/orders?email=***"):
        assert f'"path":"{path}"' in log, log[-2000:]


def test_nginx_access_log_times_in_milliseconds_like_the_backend(api, web):
    # One request through both tiers: nginx's time includes the backend's, in the same unit.
    ids = [f"timed-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for request_id in ids:
        assert requests.post(web + "/api/v1/carts", headers={"X-Request-Id": request_id}).status_code == 201
    time.sleep(0.2)
    with open(web.access_log) as f:
        nginx = {line["requestId"]: line for line in map(json.loads, f) if line["requestId"] in ids}
    backend = {line["requestId"]: line for line in map(json.loads, api.output()[0].splitlines())
               if line.get("requestId") in ids}
    for request_id in ids:
        took = nginx[request_id]["durationMs"]
        assert isinstance(took, int) and took + 1 >= backend[request_id]["durationMs"], (nginx[request_id], backend[request_id])
        assert float(nginx[request_id]["upstreamSeconds"]) * 1000 <= took + 1


def test_the_shop_revalidates_catalog_reads_rather_than_fetching_them_again(api, web, browser):
    # The API's ETag and no-cache let the browser keep a listing and only ask whether it
    # changed: the second visit to a category costs a 304 with no content, through nginx.
    category = unique("etag").lower()
    make_product(api, category=category, name="Revalidated Lamp")
    p = Page(browser, web)
    for _ in range(2):
        p.go(f"/#/?category={category}")
        p.wait_text("[data-testid=product-grid]", "Revalidated Lamp")
        p.go("/#/orders")
        p.wait("[data-testid=lookup-id]")
    time.sleep(0.2)
    with open(web.access_log) as f:
        listings = [line for line in map(json.loads, f)
                    if line["path"].startswith("/api/v1/products?") and f"category={category}" in line["path"]]
    assert [line["status"] for line in listings] == [200, 304], listings
    assert listings[1]["bytes"] == 0


def test_product_images_from_another_host_load_and_broken_ones_show_the_placeholder(api, web, browser):
    images = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                               os.path.join(FRONTEND, "images"), str(port := free_port())],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/shoes.svg", timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        tag = uuid.uuid4().hex[:6]
        remote = make_product(api, name=f"Remote {tag}", category=f"img-{tag}", imageUrl=f"http://127.0.0.1:{port}/shoes.svg")
        broken = make_product(api, name=f"Broken {tag}", category=f"img-{tag}", imageUrl="/images/no-such-image.png")
        p = Page(browser, web)
        p.go(f"/#/?category=img-{tag}")
        p.wait(f"[data-product-id='{broken['id']}'] [data-testid=product-image]")

        def loaded(product_id):
            image = browser.find_element(By.CSS_SELECTOR, f"[data-product-id='{product_id}'] [data-testid=product-image]")
            return browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0 && arguments[0].src", image)

        WebDriverWait(browser, 10).until(lambda _: loaded(remote["id"]) and loaded(broken["id"]))
        assert loaded(remote["id"]) == f"http://127.0.0.1:{port}/shoes.svg", "the CSP lets catalog images from other hosts load"
        assert loaded(broken["id"]).endswith("/images/placeholder.svg")
        p.shot("images")
    finally:
        images.terminate()
        images.wait(10)


def test_asset_stamps_are_current():
    html = open(os.path.join(FRONTEND, "index.html")).read()
    for asset in ["app.js", "styles.css"]:
        digest = hashlib.sha256(open(os.path.join(FRONTEND, "assets", asset), "rb").read()).hexdigest()[:12]
        assert f"/assets/{asset}?v={digest}" in html, f"run frontend/stamp-assets after editing {asset}"


def test_every_view_passes_an_accessibility_audit(api, web, browser):
    """axe-core (WCAG 2 A/AA rules and best practices) on each view and state a
    shopper meets, on a desktop and a phone: labels, names, contrast, landmarks."""
    sold_out = make_product(api, name=f"Sold Out {uuid.uuid4().hex[:6]}", stock=0)
    item = make_product(api, name=f"Audited {uuid.uuid4().hex[:6]}", stock=5)
    order_cart = requests.post(web + "/api/v1/carts").json()["id"]
    requests.put(f"{web}/api/v1/carts/{order_cart}/items/{item['id']}", json={"quantity": 1})
    order = requests.post(web + "/api/v1/orders", json={
        "cartId": order_cart, "customer": {"email": "ada@example.com", "name": "Ada"},
        "shippingAddress": {"line1": "1 Main St", "city": "X", "postalCode": "1", "country": "US"}}).json()["id"]
    p = Page(browser, web)
    views = [("/", "[data-testid=product-grid]"), (f"/#/product/{sold_out['id']}", "[data-testid=product]"),
             (f"/#/product/{item['id']}", "[data-testid=add-to-cart]"), ("/#/cart", "[data-testid=cart-empty]"),
             ("/#/orders", "[data-testid=lookup-id]"), (f"/#/order/{order}?placed=1", "[data-testid=order-confirmation]"),
             ("/#/order/AAAAAAAAAAAAAAAAAAAAAA", "[data-testid=not-found]"), ("/no/such/page", "[data-testid=page-not-found]")]
    problems = []

    def audit(name):
        axe = Axe(browser)
        axe.inject()
        for v in axe.run()["violations"]:
            problems.append(f"{name}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}")

    try:
        for width in (1280, 390):
            browser.set_window_size(width, 1000)
            p.go("/")
            browser.execute_script("localStorage.clear()")  # the cart starts empty
            for path, ready in views:
                p.go(path)
                p.wait(ready)
                audit(f"{path} at {width}px")
            p.go(f"/#/product/{item['id']}")
            p.wait("[data-testid=add-to-cart]").click()
            p.wait_text("#notice", "Added")
            p.go("/#/cart")
            p.wait("[data-testid=cart-line]")
            audit(f"cart with a line at {width}px")
            p.go("/#/checkout")
            p.wait("[data-testid=place-order]").click()  # empty form: every field shows its error
            p.wait_text("#e-name", "required")
            audit(f"checkout with errors at {width}px")
    finally:
        browser.set_window_size(1280, 1000)
    assert not problems, "\n".join(problems)


def test_readable_on_a_phone(api, web, browser):
    # A word longer than a phone is wide (a model number, say) must wrap, not push the page sideways,
    # no control may be squeezed until its label breaks (the search button once went a letter per line),
    # and no other word may break either (the cart's prices once went "$1 / 29. / 99").
    tag = uuid.uuid4().hex[:6]
    item = make_product(api, name=f"Phone Case {tag} PC-{'X' * 60}-{tag} with a rather long product name", stock=5)
    p = Page(browser, web)
    # A phone's own viewport: overlay scrollbars, and a page too wide for it widens the layout viewport.
    phone = lambda width: browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    phone(390)

    def fits(view):
        for width in (320, 360, 390, 430, 600):
            phone(width)
            inner, scroll, broken, split = browser.execute_script("""
                const lines = r => new Set(Array.from(r.getClientRects()).filter(x => x.width > 0).map(x => Math.round(x.top))).size;
                const contents = e => { const r = document.createRange(); r.selectNodeContents(e); return r; };
                // Words a phone has room for (not the 60-letter model number) stay whole: a price, a heading, a name.
                const split = [], text = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                for (let n; (n = text.nextNode());) {
                  if (!n.parentElement.getClientRects().length) continue;
                  let shown = true;  // not in a box clipped to a pixel for screen readers
                  for (let e = n.parentElement; e && shown; e = e.parentElement) shown = e.getBoundingClientRect().width > 1;
                  if (!shown) continue;
                  for (const m of n.data.matchAll(/\\S+/g)) {
                    const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                    if (m[0].length <= 20 && lines(r) > 1) split.push(m[0]);
                  }
                }
                return [innerWidth, document.documentElement.scrollWidth,
                  Array.from(document.querySelectorAll('button, .button'))
                    .filter(e => e.getClientRects().length && lines(contents(e)) > 1).map(e => e.textContent.trim()), split];""")
            assert inner == width and scroll <= width, f"{view} is wider than a {width}px phone ({max(inner, scroll)}px)"
            assert not broken, f"{view} at {width}px breaks the label of {broken}"
            assert not split, f"{view} at {width}px breaks the words {split}"
        phone(390)

    try:
        p.go(f"/#/?q={tag}")
        browser.execute_script("localStorage.clear()")
        browser.refresh()  # a fresh cart, holding only this product at the checkout
        p.wait("[data-testid=product-grid]")
        fits("the catalog")
        p.shot("phone-catalog")
        p.go(f"/#/product/{item['id']}")
        p.wait("[data-testid=product]")
        fits("the product page")
        p.shot("phone-product")
        p.wait("[data-testid=product] [data-testid=add-to-cart]").click()
        p.wait_text("#notice", "Added")
        p.go("/#/cart")
        p.wait("[data-testid=cart-line]")
        fits("the cart")
        p.go("/#/checkout")
        p.wait("[data-testid=checkout-form]")
        fits("the checkout")
        p.shot("phone-checkout")
        p.place_order()
        p.wait("[data-testid=order-confirmation]")
        fits("the order")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

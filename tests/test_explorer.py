"""The latent explorer page: what it embeds, how large it is, and that it works in Chromium."""

import base64
import gzip
import json
import re
import shutil

import numpy as np
import pytest
from sklearn.utils import Bunch

from skspecrep._explorer import encode_traversal, write_explorer


def _traversal(n_latents=3, n_steps=21, n_pixels=500, seed=0):
    """A traversal whose decodings are known: latent k deepens line k by its value."""
    rng = np.random.RandomState(seed)
    pixels = np.arange(n_pixels)
    reference = 1 - 0.3 * np.exp(-0.5 * ((pixels - n_pixels / 2) / 3) ** 2)
    values = np.tile(np.linspace(-2, 2, n_steps), (n_latents, 1))
    spectra = np.empty((n_latents, n_steps, n_pixels))
    for k in range(n_latents):
        centre = rng.uniform(0.1, 0.9) * n_pixels
        line = np.exp(-0.5 * ((pixels - centre) / 1.5) ** 2)
        spectra[k] = reference - 0.1 * values[k][:, None] * line
    return Bunch(latents=np.arange(n_latents), latent_values=values, spectra=spectra,
                 reference=np.zeros(n_latents), reference_spectrum=reference)  # fmt: skip


def test_decodings_survive_the_8_bit_encoding():
    t = _traversal()
    text, scale = encode_traversal(t.spectra, t.reference_spectrum)
    q = np.frombuffer(gzip.decompress(base64.b64decode(text)), dtype=np.int8)
    decoded = t.reference_spectrum + scale[..., None] * q.reshape(t.spectra.shape)
    # Each decoding within half a quantum of its largest change.
    err = np.abs(decoded - t.spectra).max(axis=2)
    largest = np.abs(t.spectra - t.reference_spectrum).max(axis=2)
    assert np.all(err <= largest / 254 + 1e-12)


def test_the_page_for_16_latents_at_18k_pixels_stays_small(tmp_path):
    # The worst case for compression: every pixel of every decoding changes at
    # random, so its 8-bit codes are incompressible.
    rng = np.random.RandomState(0)
    t = _traversal(16, 21, 18_000)
    t.spectra = t.reference_spectrum + rng.uniform(-0.1, 0.1, t.spectra.shape)
    path = write_explorer(tmp_path / "e.html", t, np.linspace(3800, 6900, 18_000),
                          [f"z{j}" for j in range(16)], {}, title="big")  # fmt: skip
    assert path.stat().st_size < 10 * 2**20


def test_the_page_embeds_names_notes_and_values(tmp_path):
    t = _traversal()
    path = write_explorer(tmp_path / "e.html", t, None, ["z0", "z1", "z2"],
                          {"z1": "tracks <teff>"}, title="A <run>")  # fmt: skip
    page = path.read_text()
    meta = json.loads(re.search(r'<script id="meta" type="application/json">(.*?)</script>',
                                page).group(1))  # fmt: skip
    assert meta["latents"] == ["z0", "z1", "z2"] and meta["notes"][1] == "tracks <teff>"
    assert meta["n_steps"] == 21 and meta["n_pixels"] == 500 and meta["x_label"] == "pixel"
    np.testing.assert_allclose(meta["values"], t.latent_values)
    assert "A &lt;run&gt;" in page and "<run>" not in page


# ------------------------------------------------------------- in a browser


def _chromium():
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no Chromium and chromedriver here (Debian: apt-get install chromium "
                    "chromium-driver)")  # fmt: skip
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.slow
def test_moving_a_slider_redraws_the_decoded_spectrum_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    t = _traversal(3, 21, 18_000)
    wavelength = np.linspace(3800, 6900, 18_000)
    path = write_explorer(tmp_path / "e.html", t, wavelength, ["z0", "z1", "z2"], {},
                          title="test")  # fmt: skip
    browser = _chromium()
    try:
        browser.get(path.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.execute_script("return window.explorerReady"))

        def drawn():
            return np.array(browser.execute_script("return Array.from(window.drawnSpectrum)"))

        # The page opens on the median code: the middle step of latent z0.
        np.testing.assert_allclose(drawn(), t.spectra[0, 10], atol=2e-3)
        slider = browser.find_element(By.ID, "slider-z1")
        slider.send_keys(Keys.END)  # z1 to its largest value
        np.testing.assert_allclose(drawn(), t.spectra[1, 20], atol=2e-3)
        assert np.abs(drawn() - t.reference_spectrum).max() > 0.1
        assert browser.find_element(By.ID, "value-z1").text == "2.00"
        # A redraw of 18,000 pixels, both plots, well under 100 ms.
        times = []
        for _ in range(5):
            slider.send_keys(Keys.ARROW_LEFT)
            times.append(browser.execute_script("return window.lastRedrawMs"))
        np.testing.assert_allclose(drawn(), t.spectra[1, 15], atol=2e-3)
        assert max(times) < 100, times
        # Moving another slider puts z1 back at the median code.
        browser.find_element(By.ID, "slider-z2").send_keys(Keys.HOME)
        assert browser.find_element(By.ID, "slider-z1").get_attribute("value") == "10"
        np.testing.assert_allclose(drawn(), t.spectra[2, 0], atol=2e-3)
        # Zooming by typing a window: the lower plot shows its pixels.
        high = browser.find_element(By.ID, "zoom-hi")
        high.send_keys(Keys.CONTROL, "a")
        high.send_keys("5000", Keys.TAB)
        # 3800 A (the first pixel) to 5000 A: 18,000 pixels over 3800-6900 A.
        n_shown = np.searchsorted(wavelength, 5000) + 1
        assert browser.find_element(By.ID, "zoom-info").text == f"({n_shown} pixels)"
    finally:
        browser.quit()

"""The specutils bridge: survey files in their published layouts; our ESO loader in specutils."""

import builtins
import os

import numpy as np
import pytest
from astropy.io import fits

from skspecrep.exceptions import SpectrumReadError
from skspecrep.io import (
    read_eso_spectrum,
    read_spectra,
    read_spectrum,
    register_specutils_loaders,
)

specutils = pytest.importorskip("specutils")
DATA = os.path.join(os.path.dirname(__file__), "data")  # provenance: data/README.md


def write_sdss_spec(path, n=3000, seed=0):
    """An SDSS-III/IV ``spec-PLATE-MJD-FIBER.fits`` file in the data model's layout.

    Primary header with TELESCOP, VERS2D, FIBERID and BUNIT; HDU 1 the
    COADD table: flux, loglam (log10 Angstrom), ivar, and_mask, or_mask,
    wdisp, sky, model.
    """
    rng = np.random.RandomState(seed)
    loglam = np.log10(3600.0) + 1e-4 * np.arange(n)
    flux = (10.0 + rng.normal(0, 1, n)).astype(np.float32)
    ivar = rng.uniform(0.5, 2.0, n).astype(np.float32)
    ivar[100:110] = 0.0  # no data
    and_mask = np.zeros(n, dtype=np.int32)
    and_mask[200:205] = 2**16  # e.g. BRIGHTSKY
    columns = [
        fits.Column(name="flux", format="E", array=flux),
        fits.Column(name="loglam", format="E", array=loglam),
        fits.Column(name="ivar", format="E", array=ivar),
        fits.Column(name="and_mask", format="J", array=and_mask),
        fits.Column(name="or_mask", format="J", array=and_mask),
        fits.Column(name="wdisp", format="E", array=np.ones(n, np.float32)),
        fits.Column(name="sky", format="E", array=np.zeros(n, np.float32)),
        fits.Column(name="model", format="E", array=flux),
    ]
    header = fits.Header(
        {
            "TELESCOP": "SDSS 2.5-M",
            "VERS2D": "v5_7_0",
            "FIBERID": 123,
            "OBJECT": "sdss star",
            "BUNIT": "1E-17 erg/cm^2/s/Ang",
        }
    )
    table = fits.BinTableHDU.from_columns(columns, name="COADD")
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)
    return path


def test_an_sdss_spec_file_reads_as_specutils_reads_it(tmp_path):
    path = write_sdss_spec(tmp_path / "spec-1234-56789-0123.fits")
    ours = read_spectrum(path)  # identified by specutils: not an ESO layout
    named = read_spectrum(path, format="SDSS-III/IV spec")
    theirs = specutils.Spectrum.read(path, format="SDSS-III/IV spec")
    for s in (ours, named):
        np.testing.assert_allclose(s.wavelength, theirs.spectral_axis.to_value("Angstrom"))
        np.testing.assert_array_equal(s.flux, theirs.flux.value)
        good = ~theirs.mask & (theirs.uncertainty.array > 0)
        np.testing.assert_allclose(s.error[good], 1 / np.sqrt(theirs.uncertainty.array[good]),
                                   rtol=1e-6)  # fmt: skip
        assert np.isinf(s.error[100:110]).all() and np.isinf(s.error[200:205]).all()
        assert s.meta["object"] == "sdss star" and s.meta["n_flagged"] == 5
    assert s.wavelength[0] == pytest.approx(3600.0, rel=1e-6)
    assert ours.meta["format"] == "specutils" and named.meta["format"] == "SDSS-III/IV spec"


def test_a_generic_wcs1d_file_falls_through_to_specutils(tmp_path):
    header = fits.Header({"CRVAL1": 6000.0, "CD1_1": 0.05, "CRPIX1": 1.0, "CTYPE1": "WAVE",
                          "CUNIT1": "Angstrom", "BUNIT": "Jy"})  # fmt: skip
    path = tmp_path / "spectrum.fits"
    fits.PrimaryHDU(np.linspace(1, 2, 500).astype(np.float32), header).writeto(path)
    s = read_spectrum(path)
    theirs = specutils.Spectrum.read(path, format="wcs1d-fits")
    np.testing.assert_allclose(s.wavelength, theirs.spectral_axis.to_value("Angstrom"))
    assert s.wavelength[1] - s.wavelength[0] == pytest.approx(0.05)
    assert s.error is None and s.meta["flux_unit"] == "Jy"
    # Many spectra in one file are named, not flattened into one.
    stack = tmp_path / "stack.fits"
    fits.PrimaryHDU(np.ones((4, 500), np.float32), header).writeto(stack)
    with pytest.raises(SpectrumReadError, match="it holds 4 spectra"):
        read_spectrum(stack, format="wcs1d-fits")
    with pytest.raises(SpectrumReadError, match=r"not an ESO layout .* nor read by specutils "
                       r"\(IORegistryError: Format could not be identified[^\n]*\)$"):  # fmt: skip
        read_spectrum(stack)


def test_specutils_opens_eso_files_with_our_loader():
    register_specutils_loaders()
    register_specutils_loaders()  # twice is harmless
    for name in ("HARPS_ADP", "ESPRESSO_S1D"):
        path = os.path.join(DATA, f"{name}_trimmed.fits")
        theirs = specutils.Spectrum.read(path)  # identified, no format named
        ours = read_eso_spectrum(path)
        np.testing.assert_array_equal(theirs.spectral_axis.to_value("Angstrom"), ours.wavelength)
        np.testing.assert_array_equal(theirs.flux.value, ours.flux)
    assert str(theirs.flux.unit) == "" and theirs.mask.sum() == ours.meta["n_flagged"] == 1693
    adp = specutils.Spectrum.read(
        os.path.join(DATA, "HARPS_ADP_trimmed.fits"), format="ESO Phase-3"
    )
    assert adp.flux.unit.to_string() == "adu" and adp.uncertainty is None


def test_read_spectra_brings_eso_and_sdss_files_onto_one_grid(tmp_path):
    sdss = write_sdss_spec(tmp_path / "spec-1234-56789-0123.fits")
    adp = os.path.join(DATA, "HARPS_ADP_trimmed.fits")
    s = read_spectra([adp, sdss], wavelength_range="common", with_error=True, progress=False)
    assert list(s.meta["format"]) == ["adp", "specutils"]
    assert s.wavelength[0] == pytest.approx(3781.43) and s.flux.shape == (2, s.wavelength.size)
    assert np.isfinite(s.flux).all()
    expected = np.interp(s.wavelength, read_spectrum(sdss).wavelength, read_spectrum(sdss).flux)
    np.testing.assert_allclose(s.flux[1], expected, rtol=1e-6)


def test_other_formats_without_specutils_say_how_to_get_it(tmp_path, monkeypatch):
    path = write_sdss_spec(tmp_path / "spec-1234-56789-0123.fits")
    real_import = builtins.__import__

    def no_specutils(name, *args, **kwargs):
        if name == "specutils" or name.startswith("specutils."):
            raise ImportError("No module named 'specutils'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_specutils)
    with pytest.raises(SpectrumReadError, match="need specutils: pip install specutils"):
        read_spectrum(path)
    with pytest.raises(ImportError, match="pip install specutils"):
        read_spectrum(path, format="SDSS-III/IV spec")
    assert read_spectrum(os.path.join(DATA, "HARPS_s1d_trimmed.fits")).flux.size == 4000

"""FITS reading: HARPS ADP and s1d files written here in the archive's exact layout."""

import os

import numpy as np
import pytest
from astropy.io import fits

from skspecrep.io import SpectrumReadError, _batch, read_eso_spectrum, read_spectra

HEADER = {
    "OBJECT": "HD 10700",
    "SNR": 143.2,
    "EXPTIME": 900.0,
    "MJD-OBS": 55123.456,
    "SPEC_RES": 115000.0,
    "SPECSYS": "BARYCENT",
    "WAVELMIN": 378.5,
    "WAVELMAX": 691.0,
    "SPEC_BIN": 0.001,
    "HIERARCH ESO DRS BERV": -12.34,
}


def write_adp(path, wave, flux, err=None, *, header=HEADER, columns=None, rows=1):
    """An ESO Phase-3 ADP file: empty primary HDU, one-row SPECTRUM table of array columns."""
    n = len(wave)
    err = np.full(n, np.nan) if err is None else err
    arrays = {"WAVE": (wave, "D"), "FLUX": (flux, "E"), "ERR": (err, "E")}
    cols = [
        fits.Column(name=name, format=f"{n}{code}", array=np.tile(values, (rows, 1)))
        for name, (values, code) in arrays.items()
        if columns is None or name in columns
    ]
    table = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    primary = fits.PrimaryHDU(header=fits.Header(list(header.items())))
    fits.HDUList([primary, table]).writeto(path)
    return path


def write_s1d(path, flux, crval=4000.0, cdelt=0.01, crpix=None, header=HEADER):
    h = fits.Header(list(header.items()))
    h["CRVAL1"], h["CDELT1"] = crval, cdelt
    if crpix is not None:
        h["CRPIX1"] = crpix
    fits.PrimaryHDU(np.asarray(flux, dtype=np.float32), h).writeto(path)
    return path


@pytest.fixture
def harps_like():
    wave = 3781.0 + 0.01 * np.arange(2000)
    flux = (500 + 100 * np.sin(wave / 3)).astype(np.float32)
    flux[:5] = -3.0  # the blue end of HARPS spectra can go negative
    err = np.sqrt(np.abs(flux)).astype(np.float32)
    return wave, flux, err


# ------------------------------------------------------------------- one file


def test_adp_round_trip(tmp_path, harps_like):
    wave, flux, err = harps_like
    path = write_adp(tmp_path / "ADP.2010-01-01T00:00:00.000.fits", wave, flux, err)
    s = read_eso_spectrum(path)
    assert s.wavelength.dtype == np.float64 and s.flux.dtype == np.float32
    np.testing.assert_array_equal(s.wavelength, wave)
    np.testing.assert_array_equal(s.flux, flux)  # negative values kept as they are
    np.testing.assert_array_equal(s.error, err)
    assert s.meta["format"] == "adp" and s.meta["path"] == str(path)
    assert s.meta["object"] == "HD 10700" and s.meta["berv_kms"] == -12.34
    assert s.meta["wavelmin_nm"] == 378.5 and s.meta["specsys"] == "BARYCENT"
    wavelength, flux_read, error, meta = s  # unpacks like a tuple
    assert meta["snr"] == 143.2


def test_adp_with_all_nan_errors_and_missing_keywords(tmp_path, harps_like):
    wave, flux, _ = harps_like
    path = write_adp(tmp_path / "old.fits", wave, flux, header={"OBJECT": "x"})
    s = read_eso_spectrum(path)
    assert s.error is None  # older releases: ERR entirely NaN
    assert s.meta["snr"] is None and s.meta["berv_kms"] is None


def test_s1d_linear_grid(tmp_path):
    flux = np.arange(100, dtype=np.float32)
    s = read_eso_spectrum(write_s1d(tmp_path / "a_s1d_A.fits", flux, crval=4000.0, cdelt=0.01))
    np.testing.assert_allclose(s.wavelength, 4000.0 + 0.01 * np.arange(100))
    assert s.meta["format"] == "s1d" and s.error is None
    # A reference pixel other than the first shifts the grid.
    s = read_eso_spectrum(write_s1d(tmp_path / "b.fits", flux, crval=4000.0, crpix=11))
    assert s.wavelength[10] == pytest.approx(4000.0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p, w, f: p, "no such file"),
        (lambda p, w, f: p.write_text("not fits") and p, "not a readable FITS file"),
        (lambda p, w, f: write_adp(p, w, f, columns={"WAVE", "ERR"}), "lacks column.*FLUX"),
        (lambda p, w, f: write_adp(p, w, f, rows=2), "has 2 rows and is neither one row"),
        (lambda p, w, f: write_adp(p, w[::-1], f), "strictly increasing"),
        (lambda p, w, f: fits.PrimaryHDU().writeto(p) or p, "neither an ADP file"),
        (lambda p, w, f: _s1d_no_cdelt(p, f), "CDELT1"),
        (lambda p, w, f: _s1d_empty(p), "the spectrum has no pixels"),
    ],
)
def test_malformed_files_are_named_with_the_problem(tmp_path, harps_like, make, match):
    wave, flux, _ = harps_like
    path = make(tmp_path / "bad.fits", wave, flux)
    with pytest.raises(SpectrumReadError, match=match) as info:
        read_eso_spectrum(path)
    assert info.value.path == str(tmp_path / "bad.fits")
    assert str(tmp_path / "bad.fits") in str(info.value)


def _s1d_empty(path):
    header = fits.Header({"CRVAL1": 4000.0, "CDELT1": 0.01})
    fits.PrimaryHDU(np.zeros(0, np.float32), header).writeto(path)
    return path


def _s1d_no_cdelt(path, flux):
    fits.PrimaryHDU(np.asarray(flux), fits.Header({"CRVAL1": 4000.0})).writeto(path)
    return path


# ------------------------------------------------------------- real files

DATA = os.path.join(os.path.dirname(__file__), "data")  # provenance: data/README.md


def test_a_real_harps_adp_file_reads_as_astropy_sees_it():
    path = os.path.join(DATA, "HARPS_ADP_trimmed.fits")
    s = read_eso_spectrum(path)
    with fits.open(path) as hdul:
        row = hdul["SPECTRUM"].data
        wave, flux, err = (np.asarray(row[c][0]) for c in ("WAVE", "FLUX", "ERR"))
        header = hdul[0].header
    assert s.meta["format"] == "adp" and s.meta["instrument"] == "HARPS"
    assert s.wavelength.size == 4000 and s.wavelength[0] == pytest.approx(3781.43, abs=0.01)
    np.testing.assert_array_equal(s.wavelength, wave)
    np.testing.assert_allclose(np.diff(s.wavelength), 0.01, atol=1e-6)  # the 0.01 A grid
    for i in (0, 1234, 3999):
        assert s.flux[i] == flux[i]
    assert s.flux[0] == pytest.approx(-17.990522)  # the blue end of HARPS goes negative
    assert s.error is None and np.isnan(err).all()  # this 2014 release has no errors
    assert s.meta["object"] == header["OBJECT"] == "IC4651No9122"
    assert s.meta["berv_kms"] == pytest.approx(-8.6859110031507) and s.meta["snr"] == 23.35
    assert s.meta["n_flagged"] == 0


def test_a_real_harps_s1d_file_reads_on_its_linear_grid():
    path = os.path.join(DATA, "HARPS_s1d_trimmed.fits")
    s = read_eso_spectrum(path)
    with fits.open(path) as hdul:
        data, header = hdul[0].data, hdul[0].header
    assert s.meta["format"] == "s1d" and s.flux.size == 4000 and s.error is None
    assert s.wavelength[0] == header["CRVAL1"] == 3781.19
    assert s.wavelength[-1] == pytest.approx(3781.19 + 3999 * 0.01)
    np.testing.assert_array_equal(s.flux[[0, 2000, 3999]], data[[0, 2000, 3999]])
    assert s.meta["object"] == "Gl581" and s.meta["berv_kms"] == pytest.approx(-23.5438771778635)


def test_a_real_espresso_s1d_table_reads_in_air_with_its_quality_flags():
    path = os.path.join(DATA, "ESPRESSO_S1D_trimmed.fits")
    s = read_eso_spectrum(path)
    with fits.open(path) as hdul:
        table, header = hdul[1].data, hdul[0].header
    assert s.meta["format"] == "table" and s.meta["instrument"] == "ESPRESSO"
    assert s.flux.size == 5000
    np.testing.assert_array_equal(s.wavelength, table["wavelength_air"])  # air, as HARPS
    assert s.wavelength[0] == pytest.approx(3770.9314005522947)
    bad = table["quality"] != 0
    assert s.meta["n_flagged"] == bad.sum() == 1693
    assert np.all(np.isinf(s.error[bad])) and np.all(np.isfinite(s.error[~bad]))
    np.testing.assert_allclose(s.error[~bad], table["error"][~bad], rtol=1e-6)
    np.testing.assert_allclose(s.flux[[2000, 4999]], table["flux"][[2000, 4999]], rtol=1e-6)
    assert s.meta["berv_kms"] == header["HIERARCH ESO QC BERV"]


def test_files_of_three_layouts_come_onto_one_grid():
    files = [os.path.join(DATA, f"{n}_trimmed.fits") for n in ("HARPS_ADP", "HARPS_s1d",
                                                                "ESPRESSO_S1D")]  # fmt: skip
    s = read_spectra(files, wavelength_range="common", with_error=True, progress=False)
    # The ADP file starts last (3781.43 A) and ends first (3821.42 A).
    assert s.wavelength[0] == pytest.approx(3781.43, abs=0.01)
    assert s.wavelength[-1] <= 3821.43 and np.isfinite(s.flux).all()
    assert list(s.meta["format"]) == ["adp", "s1d", "table"]
    # ESPRESSO's flagged blue end reaches into the range: flagged there, never NaN.
    assert np.isinf(s.error[2]).sum() > 0 and not np.isnan(s.error[2]).any()
    flagged_to = s.wavelength[np.isinf(s.error[2])].max()
    assert flagged_to == pytest.approx(3781.6, abs=0.05)


@pytest.mark.parametrize("name", ["HARPS_ADP", "ESPRESSO_S1D"])
def test_the_quick_header_scan_reads_what_astropy_reads(name, monkeypatch):
    """Tables are read without parsing the 3,000-card primary header; the result is the same."""
    from skspecrep.io import _eso

    path = os.path.join(DATA, f"{name}_trimmed.fits")
    opened = []
    real_open = fits.open
    monkeypatch.setattr(fits, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    quick = read_eso_spectrum(path)
    assert opened == []  # astropy never parsed the whole file
    monkeypatch.setattr(_eso, "_read_quickly", lambda path: None)
    ordinary = read_eso_spectrum(path)
    assert opened  # the ordinary path did
    for a, b in zip(quick[:3], ordinary[:3]):
        assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True)
    assert quick.meta == ordinary.meta


def test_an_echelle_product_is_named_as_one(tmp_path):
    """ESPRESSO S2D: 2-D images of orders (SCIDATA, ERRDATA...) after an empty primary."""
    hdul = fits.HDUList([fits.PrimaryHDU(header=fits.Header({"INSTRUME": "ESPRESSO"}))])
    for name in ("SCIDATA", "ERRDATA", "WAVEDATA_AIR_BARY"):
        hdul.append(fits.ImageHDU(np.ones((170, 300), np.float32), name=name))
    hdul.writeto(tmp_path / "HD41248_S2D_A.fits")
    with pytest.raises(SpectrumReadError, match="echelle products .* use the S1D or ADP"):
        read_eso_spectrum(tmp_path / "HD41248_S2D_A.fits")


def test_adp_columns_in_nanometres_and_quality_flags(tmp_path, harps_like):
    """X-shooter and UVES ADP files give WAVE in nm and a QUAL column."""
    wave, flux, err = harps_like
    n = wave.size
    qual = np.zeros(n, dtype=np.int32)
    qual[10:20] = 4
    cols = [
        fits.Column(name="WAVE", format=f"{n}D", unit="nm", array=(wave / 10)[None]),
        fits.Column(name="FLUX_REDUCED", format=f"{n}E", array=flux[None]),
        fits.Column(name="ERR_REDUCED", format=f"{n}E", array=err[None]),
        fits.Column(name="QUAL", format=f"{n}J", array=qual[None]),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "ADP.xsh.fits")
    s = read_eso_spectrum(tmp_path / "ADP.xsh.fits")
    np.testing.assert_allclose(s.wavelength, wave, rtol=1e-12)
    np.testing.assert_array_equal(s.flux, flux)
    assert np.isinf(s.error[10:20]).all() and np.array_equal(s.error[20:], err[20:])
    assert s.meta["n_flagged"] == 10


# ------------------------------------------------------------------ many files


@pytest.fixture
def archive(tmp_path):
    """Four spectra: three on a shared grid, one on a shifted and shorter one."""
    wave = 5000.0 + 0.01 * np.arange(1000)
    paths = []
    for i in range(3):
        flux = (100.0 * (i + 1) + wave - 5000.0).astype(np.float32)
        paths.append(write_adp(tmp_path / f"ADP.{i}.fits", wave, flux, np.ones(1000)))
    shifted = 5002.005 + 0.01 * np.arange(500)
    paths.append(write_adp(tmp_path / "ADP.3.fits", shifted, (shifted - 5000.0).astype("f4")))
    return tmp_path, wave, paths


def test_read_spectra_puts_every_file_on_one_grid(archive):
    folder, wave, paths = archive
    s = read_spectra(str(folder / "ADP.*.fits"), progress=False, with_error=True)
    assert s.flux.shape == (4, 1000) and s.flux.dtype == np.float32
    np.testing.assert_array_equal(s.wavelength, wave)  # the first file's grid
    np.testing.assert_array_equal(s.flux[1], (200.0 + wave - 5000.0).astype(np.float32))
    # The shifted file, linear in wavelength, is interpolated exactly where it
    # covers the grid and NaN elsewhere.
    covered = (wave >= 5002.005) & (wave <= 5002.005 + 4.99)
    np.testing.assert_allclose(s.flux[3, covered], wave[covered] - 5000.0, rtol=1e-6)
    assert np.isnan(s.flux[3, ~covered]).all()
    assert np.isnan(s.error[3]).all() and np.all(s.error[:3] == 1)  # it had no errors
    assert list(s.meta["path"]) == [str(p) for p in paths] and s.skipped == []


def test_read_spectra_onto_a_given_grid(archive):
    _, _, paths = archive
    grid = np.linspace(5001.0, 5003.0, 50)
    s = read_spectra(paths[:2], wavelength=grid, progress=False)
    np.testing.assert_allclose(s.flux[0], 100.0 + grid - 5000.0, rtol=1e-6)


def test_skipping_lists_every_bad_file_with_its_reason(archive):
    folder, _, paths = archive
    bad = folder / "ADP.broken.fits"
    bad.write_bytes(b"SIMPLE  = garbage")
    empty = _s1d_empty(folder / "HARPS.empty_s1d_A.fits")
    files = [paths[0], bad, paths[1], folder / "missing.fits", empty]
    with pytest.raises(SpectrumReadError, match="ADP.broken.fits"):
        read_spectra(files, progress=False)
    s = read_spectra(files, on_error="skip", progress=False)
    assert len(s.flux) == 2 and list(s.meta["path"]) == [str(paths[0]), str(paths[1])]
    assert [p for p, _ in s.skipped] == [str(bad), str(folder / "missing.fits"), str(empty)]
    assert "not a readable FITS file" in s.skipped[0][1] and s.skipped[1][1] == "no such file"
    # Read by specutils too when the ESO layouts fail, but still refused.
    assert s.skipped[2][1] == "the spectrum has no pixels"


def test_streaming_to_disk_gives_the_same_array_and_drops_skipped_rows(archive, tmp_path):
    folder, _, paths = archive
    files = [paths[0], folder / "missing.fits", paths[1], paths[3]]
    in_memory = read_spectra(files, on_error="skip", progress=False)
    out = tmp_path / "flux.npy"
    on_disk = read_spectra(files, out=out, on_error="skip", with_error=True, progress=False)
    assert isinstance(on_disk.flux, np.memmap)
    np.testing.assert_array_equal(on_disk.flux, in_memory.flux)
    reopened = np.load(out, mmap_mode="r")
    assert reopened.shape == (3, 1000)  # not 4 rows with one of garbage
    np.testing.assert_array_equal(reopened, in_memory.flux)
    header = os.path.getsize(out) - 3 * 1000 * 4
    assert header in (128, 192)  # the file holds exactly the rows read
    assert np.load(tmp_path / "flux.error.npy").shape == (3, 1000)


def test_shrinking_falls_back_to_a_copy_when_the_header_would_change(
    archive, tmp_path, monkeypatch
):
    folder, _, paths = archive
    monkeypatch.setattr(_batch, "_npy_header", lambda n, m: b"different length")
    out = tmp_path / "flux.npy"
    s = read_spectra([paths[0], folder / "nope.fits"], out=out, on_error="skip", progress=False)
    assert np.load(out).shape == (1, 1000)
    np.testing.assert_array_equal(s.flux[0], np.load(out)[0])


@pytest.fixture
def uneven(tmp_path):
    """Five ADP files whose coverage differs by a few tenths of an Angstrom at the ends."""
    paths, starts, stops = (
        [],
        [5000.0, 5000.3, 4999.8, 5000.1, 5000.0],
        [1000, 980, 1000, 990, 1002],
    )
    for i, (start, n) in enumerate(zip(starts, stops)):
        wave = start + 0.01 * np.arange(n)
        flux = (2.0 * (wave - 5000.0) + i).astype(np.float32)
        paths.append(write_adp(tmp_path / f"ADP.{i}.fits", wave, flux, np.full(n, 0.5 + i)))
    return paths


@pytest.mark.parametrize("to_disk", [False, True])
def test_common_range_keeps_only_pixels_every_file_covers(uneven, tmp_path, to_disk):
    out = tmp_path / "flux.npy" if to_disk else None
    s = read_spectra(uneven, wavelength_range="common", out=out, with_error=True, progress=False)
    # Blue end set by the file starting at 5000.3, red end by the one ending at 4999.8 + 9.99.
    assert s.wavelength[0] == pytest.approx(5000.3) and s.wavelength[-1] == pytest.approx(5009.79)
    assert s.wavelength[0] >= s.meta["wave_first"].max()
    assert s.wavelength[-1] <= s.meta["wave_last"].min()
    assert s.flux.shape == s.error.shape == (5, s.wavelength.size) and np.isfinite(s.flux).all()
    expected = 2.0 * (s.wavelength - 5000.0)[None, :] + np.arange(5)[:, None]
    np.testing.assert_allclose(s.flux, expected, atol=2e-4)
    np.testing.assert_allclose(s.error, np.broadcast_to(0.5 + np.arange(5)[:, None], s.error.shape))
    if to_disk:  # rewritten in place to exactly the kept columns
        assert np.load(out).shape == s.flux.shape
        np.testing.assert_array_equal(np.load(out), s.flux)
        assert np.load(tmp_path / "flux.error.npy").shape == s.flux.shape
        full = read_spectra(uneven, progress=False)
        i0 = int(np.flatnonzero(full.wavelength == s.wavelength[0])[0])
        np.testing.assert_array_equal(s.flux, full.flux[:, i0 : i0 + s.wavelength.size])


def test_a_window_not_covered_by_a_file_names_it_or_skips_it(uneven):
    with pytest.raises(SpectrumReadError, match=r"ADP\.1\.fits: covers 5000\.30-5010\.09 A"):
        read_spectra(uneven, wavelength_range=(5000.1, 5005.0), progress=False)
    s = read_spectra(uneven, wavelength_range=(5000.1, 5005.0), on_error="skip", progress=False)
    assert [os.path.basename(p) for p, _ in s.skipped] == ["ADP.1.fits"]
    assert s.wavelength[0] == pytest.approx(5000.1) and s.wavelength[-1] == pytest.approx(5005.0)
    assert len(s.flux) == 4 and np.isfinite(s.flux).all()
    # A window on a given grid restricts that grid.
    grid = np.linspace(4990.0, 5020.0, 3001)
    s = read_spectra(uneven[:1], wavelength=grid, wavelength_range=(5001, 5002), progress=False)
    assert s.wavelength.size == 101 and s.wavelength[0] == pytest.approx(5001.0)


def test_parallel_reading_gives_the_same_rows_errors_and_order(uneven, tmp_path):
    bad = tmp_path / "ADP.broken.fits"
    bad.write_bytes(b"SIMPLE  = garbage")
    files = [bad, *uneven[:2], tmp_path / "missing.fits", *uneven[2:]]
    kwargs = dict(wavelength_range="common", on_error="skip", with_error=True, progress=False)
    one = read_spectra(files, **kwargs)
    two = read_spectra(files, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(two.flux, one.flux)
    np.testing.assert_array_equal(two.error, one.error)
    np.testing.assert_array_equal(two.wavelength, one.wavelength)
    assert list(two.meta["path"]) == list(one.meta["path"]) == [str(p) for p in uneven]
    assert two.skipped == one.skipped and [p for p, _ in one.skipped] == [str(bad), str(files[3])]
    with pytest.raises(SpectrumReadError, match="missing.fits: no such file"):
        read_spectra(files[1:], n_jobs=2, progress=False)


def test_progress_bar_counts_files(archive, capsys):
    folder, _, _ = archive
    read_spectra(str(folder / "ADP.*.fits"))
    assert "4/4" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(paths="/nowhere/ADP.*.fits"), FileNotFoundError, "No files match"),
        (dict(paths=[]), ValueError, "paths is empty"),
        (dict(on_error="ignore"), ValueError, "on_error"),
        (dict(wavelength=[5000.0, 4999.0]), ValueError, "strictly increasing"),
        (dict(wavelength=[[5000.0, 5001.0]]), ValueError, "1-D grid"),
        (dict(wavelength_range="all"), ValueError, "'common' or None"),
        (dict(wavelength_range=(5005.0, 5001.0)), ValueError, "0 < low < high"),
        (dict(wavelength_range=5000.0), ValueError, r"\(low, high\)"),
        (dict(wavelength_range=(6000.0, 6100.0)), SpectrumReadError, "fewer than 2 pixels"),
    ],
)
def test_read_spectra_bad_arguments(archive, kwargs, error, match):
    _, _, paths = archive
    with pytest.raises(error, match=match):
        read_spectra(**{"paths": paths, "progress": False, **kwargs})


def test_nothing_readable_is_an_error_listing_reasons(tmp_path):
    with pytest.raises(ValueError, match="None of the 2 files.*no such file"):
        read_spectra([tmp_path / "a.fits", tmp_path / "b.fits"], on_error="skip", progress=False)

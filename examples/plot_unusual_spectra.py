"""
Find the unusual spectra
========================

Once an autoencoder has learned what the spectra of an archive look like, it
can say which spectra do not fit: bad reductions, cosmic rays, emission-line
stars, binaries, objects filed under the wrong type.
:meth:`~skspecrep.SpectralAutoencoder.score_samples` gives each spectrum a
typicality (higher is more typical, as for scikit-learn's outlier
detectors), from three parts measured against spectra the network did not
train on:

- **reconstruction**: the spectrum is drawn badly everywhere;
- **peak**: a few pixels are far off (a spike, an emission line, dead pixels);
- **latent**: its code is unlike the codes of the archive.

:func:`~skspecrep.inspection.unusual_spectra` ranks the spectra with the
largest part and where the largest residual lies, and
:class:`~skspecrep.SpectrumOutlierDetector` turns the score into a
scikit-learn outlier detector. ``python benchmarks/outliers.py`` measures
all of this on synthetic and real spectra against PCA baselines.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from skspecrep import MedianNormalizer, SpectralAutoencoder, SpectrumOutlierDetector
from skspecrep.datasets import make_stellar_spectra
from skspecrep.inspection import unusual_spectra
from skspecrep.plotting import plot_reconstructions

X, labels, wavelength = make_stellar_spectra(1000, n_pixels=1024, snr=(50, 150), random_state=0)
X_train, X_new = X[:800], X[800:].copy()

ae = SpectralAutoencoder(
    n_components=8,
    wavelength=wavelength,
    virtual_rv=60.0,
    validation_fraction=0.2,  # the reference spectra of the score
    max_epochs=20,
    lr=3e-3,
    random_state=0,
)
ae.fit(X_train)

# %%
# Three of the new spectra are spoiled, as archives spoil them: a cosmic
# ray, an emission line, and a continuum normalised in two pieces.
pixels = np.arange(X_new.shape[1])
X_new[10, 300:302] += 1.5
X_new[50] += 0.6 * np.exp(-0.5 * ((pixels - 700) / 2.0) ** 2)
X_new[120, 512:] *= 1.2

table = unusual_spectra(ae, X_new)
print(table.head(6).round(2).to_string())

# %%
# The most unusual spectra with their reconstructions and residuals; the
# dotted line marks the largest residual.
top = table.index[:3]
axes = plot_reconstructions(
    None,
    X_new[top],
    wavelength=wavelength,
    reconstructions=ae.inverse_transform(ae.transform(X_new[top])),
    titles=[f"spectrum {i}: score {table.loc[i, 'score']:.0f} ({table.loc[i, 'part']})"
            for i in top],  # fmt: skip
)
for ax, i in zip(axes, top):
    ax.axvline(table.loc[i, "peak_wavelength"], color="C1", ls=":")
plt.show()

# %%
# How the clean spectra score: about -1 (minus the largest of three parts,
# each centred on the reference spectra); the spoiled ones are far below.
plt.figure(figsize=(6, 3))
plt.hist(table["score"], bins=np.linspace(-40, 2, 85), color="C0")
plt.axvline(-5, color="C3", ls="--", label='contamination="auto" threshold')
plt.xlabel("score_samples")
plt.ylabel("spectra")
plt.legend(frameon=False)
plt.tight_layout()
plt.show()

# %%
# As a scikit-learn outlier detector in a pipeline: ``predict`` gives -1 for
# the outliers; ``contamination`` sets the share flagged among the training
# spectra, ``"auto"`` flags spectra more than 5 typical spreads off.
detector = make_pipeline(
    MedianNormalizer(),
    SpectrumOutlierDetector(ae, prefit=True),
).fit(X_train)
flagged = np.flatnonzero(detector.predict(X_new) == -1)
print("flagged:", flagged)

"""What a PhysioNet/CinC 2012 stay file may hold: its 37 variables and 5 descriptors, their plausible ranges, and the
time limit; shared by the stay reader and its cache key."""

from __future__ import annotations

# The 37 time-series variables of the challenge (checked against every file of sets A, B and C: no other name occurs).
VARIABLES: tuple[str, ...] = (
    "ALP", "ALT", "AST", "Albumin", "BUN", "Bilirubin", "Cholesterol", "Creatinine", "DiasABP", "FiO2", "GCS", "Glucose",
    "HCO3", "HCT", "HR", "K", "Lactate", "MAP", "MechVent", "Mg", "NIDiasABP", "NIMAP", "NISysABP", "Na", "PaCO2", "PaO2",
    "Platelets", "RespRate", "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight", "pH",
)  # fmt: skip
DESCRIPTORS: tuple[str, ...] = ("Age", "Gender", "Height", "ICUType", "Weight")  # at 00:00, besides RecordID
SETS: tuple[str, ...] = ("a", "b", "c")
HEADER = "Time,Parameter,Value"
MAX_LISTED = 500  # out-of-range values listed one by one in the report (all of them are counted)

# Physiologically *possible* (not normal) limits, inclusive, in the challenge's units. A value outside is a unit or
# entry error: it becomes missing and is counted and listed in the report; no unit is guessed or repaired. The rules
# follow A. Johnson's outlier filter for this challenge (github.com/alistairewj/challenge2012, prepare-data.ipynb:
# pH 6.5-8.0, weight 35-299 kg, HR 1-299, pressures and RespRate >= 1, PaO2 >= 20, PaCO2 >= 10) widened to survivable
# extremes; 0 is invalid for pressures, HR, rates and concentrations (monitor zeroing or a placeholder), valid for Urine.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "ALP": (1, 10_000), "ALT": (1, 20_000), "AST": (1, 40_000),  # IU/L; fulminant hepatitis reaches tens of thousands
    "Albumin": (0.5, 7.0), "BUN": (1, 300), "Bilirubin": (0.1, 100), "Cholesterol": (20, 1_000),  # g/dL, mg/dL
    "Creatinine": (0.1, 30), "Glucose": (1, 2_000), "HCO3": (1, 60), "HCT": (1, 80),  # mg/dL, mmol/L, %
    "K": (1, 12), "Na": (90, 200), "Mg": (0.3, 12), "Lactate": (0.1, 40),  # mEq/L; K > 12 is haemolysis
    "DiasABP": (1, 250), "NIDiasABP": (1, 250), "MAP": (1, 300), "NIMAP": (1, 300),  # mmHg; 0 = transducer zeroing
    "SysABP": (1, 300), "NISysABP": (1, 300), "HR": (1, 300), "RespRate": (1, 100),  # mmHg, bpm, breaths/min
    "FiO2": (0.21, 1.0), "SaO2": (1, 100), "PaO2": (20, 800), "PaCO2": (10, 200), "pH": (6.5, 8.0),  # fraction, %, mmHg
    "GCS": (3, 15), "MechVent": (0, 1), "Temp": (20, 45),  # score, flag, degrees C (lowest survived ~14, not in ICU data)
    "Platelets": (1, 5_000), "WBC": (0.1, 1_000), "TroponinI": (0.01, 500), "TroponinT": (0.001, 100),  # 10^9/L, ug/L
    "Urine": (0, 10_000), "Weight": (20, 350),  # mL per charting, kg
}  # fmt: skip
DESCRIPTOR_RANGES: dict[str, tuple[float, float]] = {"Age": (0, 130), "Height": (100, 250), "Weight": PLAUSIBLE_RANGES["Weight"]}
DESCRIPTOR_LEVELS: dict[str, tuple[float, ...]] = {"Gender": (0, 1), "ICUType": (1, 2, 3, 4)}  # 1 CCU, 2 CSRU, 3 MICU, 4 SICU

# Times beyond this are an entry or unit error, refused: the challenge's files cover the first 48 h (checked: no time after
# 48:00 in sets A, B and C); 30 days leaves room for longer files of the same format while catching e.g. seconds as minutes.
MAX_TIME_MIN = 30 * 24 * 60

"""Writes ghg-emission-factors-hub-2025_sample.xlsx: a few rows of the US EPA GHG Emission Factors
Hub (January 2025), typed from the published workbook, in its native stacked-table layout (title
cells in column B, tables one below the other, unit rows, section rows, notes, eGRID numbers stored
as text as the Hub does). Run: python data/factors/us_epa_hub/write_sample.py
"""

from pathlib import Path

import openpyxl

ROWS: list[tuple[int, dict[str, object]]] = [
    (2, {"B": "Emission Factors for Greenhouse Gas Inventories"}),
    (3, {"F": "Last Modified: January 15, 2025"}),
    (12, {"B": "Table 1", "C": "   Stationary Combustion"}),
    (14, {"C": "Fuel Type", "D": "Heat Content (HHV)", "E": "CO2 Factor", "F": "CH4 Factor", "G": "N2O Factor",
          "H": "CO2 Factor", "I": "CH4 Factor", "J": "N2O Factor"}),
    (15, {"D": "mmBtu per short ton", "E": "kg CO2 per mmBtu", "F": "g CH4 per mmBtu", "G": "g N2O per mmBtu",
          "H": "kg CO2 per short ton", "I": "g CH4 per short ton", "J": "g N2O per short ton"}),
    (16, {"C": "Coal and Coke"}),
    (17, {"C": "Anthracite", "D": 25.09, "E": 103.69, "F": 11, "G": 1.6, "H": 2602, "I": 276, "J": 40}),
    (18, {"D": "mmBtu per scf", "E": "kg CO2 per mmBtu", "F": "g CH4 per mmBtu", "G": "g N2O per mmBtu",
          "H": "kg CO2 per scf", "I": "g CH4 per scf", "J": "g N2O per scf"}),
    (19, {"C": "Natural Gas"}),
    (20, {"C": "Natural Gas", "D": 0.001026, "E": 53.06, "F": 1, "G": 0.1, "H": 0.05444, "I": 0.00103,
          "J": 0.0001}),
    (21, {"D": "mmBtu per gallon", "E": "kg CO2 per mmBtu", "F": "g CH4 per mmBtu", "G": "g N2O per mmBtu",
          "H": "kg CO2 per gallon", "I": "g CH4 per gallon", "J": "g N2O per gallon"}),
    (22, {"C": "Petroleum Products"}),
    (23, {"C": "Distillate Fuel Oil No. 2", "D": 0.138, "E": 73.96, "F": 3, "G": 0.6, "H": 10.21, "I": 0.41,
          "J": 0.08}),
    (24, {"C": "Motor Gasoline", "D": 0.125, "E": 70.22, "F": 3, "G": 0.6, "H": 8.78, "I": 0.38, "J": 0.08}),
    (25, {"C": "Biomass Fuels - Kraft Pulping Liquor, by Wood Furnish"}),
    (26, {"C": "North American Softwood", "E": 94.4, "F": 1.9, "G": 0.42}),
    (27, {"C": "Source:"}),
    (28, {"C": "Federal Register EPA; 40 CFR Part 98"}),
    (30, {"B": "Table 2", "C": "   Mobile Combustion CO2"}),
    (32, {"C": "Fuel Type", "D": "kg CO2 per unit", "E": "Unit"}),
    (33, {"C": "Diesel Fuel", "D": 10.21, "E": "gallon"}),
    (34, {"C": "Motor Gasoline", "D": 8.78, "E": "gallon"}),
    (35, {"C": "Source:"}),
    (50, {"B": "Table 6", "C": "   Electricity"}),
    (52, {"E": "Total Output Emission Factors", "H": "Non-Baseload Emission Factors"}),
    (53, {"C": "eGRID Subregion Acronym", "D": "eGRID Subregion Name", "E": "CO2 Factor", "F": "CH4 Factor",
          "G": "N2O Factor", "H": "CO2 Factor", "I": "CH4 Factor", "J": "N2O Factor"}),
    (54, {"E": "(lb CO2 / MWh)", "F": "(lb CH4 / MWh)", "G": "(lb N2O / MWh)", "H": "(lb CO2 / MWh)",
          "I": "(lb CH4 / MWh)", "J": "(lb N2O / MWh)"}),
    (55, {"C": "CAMX", "D": "WECC California", "E": "436.655", "F": "0.025", "G": "0.003", "H": "1033.985",
          "I": "0.051", "J": "0.007"}),
    (56, {"C": "NYUP", "D": "NPCC Upstate NY", "E": "240.99", "F": "0.011", "G": "0.001", "H": "909.108",
          "I": "0.041", "J": "0.005"}),
    (57, {"C": "US Average", "D": "US Average", "E": "771.523", "F": "0.057", "G": "0.008", "H": "1393.7",
          "I": "0.104", "J": "0.015"}),
    (58, {"C": "Source: EPA eGRID2023, January 2025"}),
    (70, {"B": "Table 7", "C": "Steam and Heat"}),
    (72, {"D": "CO2 Factor (kg CO2 / mmBtu)", "E": "CH4 Factor (g CH4 / mmBtu) ", "F": "N2O Factor (g N2O / mmBtu) "}),
    (73, {"C": "Steam and Heat", "D": 66.33, "E": 1.25, "F": 0.125}),
    (74, {"C": "Notes:"}),
    (76, {"B": "Table 8", "C": "   Scope 3 Category 4: Upstream Transportation and Distribution"}),
    (77, {"C": "These factors are intended for use in the distance-based method."}),
    (78, {"C": "Vehicle Type", "D": "CO2 Factor \n(kg CO2 / unit)", "E": "CH4 Factor \n(g CH4 / unit)",
          "F": "N2O Factor \n(g N2O / unit)", "G": "Units"}),
    (79, {"C": "Medium- and Heavy-Duty Truck", "D": 1.298, "E": 0.0115, "F": 0.0376, "G": "vehicle-mile"}),
    (80, {"C": "Rail", "D": 0.021, "E": 0.0016, "F": 0.0005, "G": "short ton-mile"}),
    (81, {"C": "Source: CO2, CH4, and N2O emissions data for on-road vehicles"}),
    (90, {"B": "Table 10", "C": "Scope 3 Category 6: Business Travel and Employee Commuting"}),
    (91, {"C": "These factors are intended for use in the distance-based method."}),
    (92, {"C": "Vehicle Type", "D": "CO2 Factor (kg CO2 / unit)", "E": "CH4 Factor (g CH4 / unit)",
          "F": "N2O Factor (g N2O / unit)", "G": "Units"}),
    (93, {"C": "Passenger Car A", "D": 0.297, "E": 0.0059, "F": 0.0053, "G": "vehicle-mile"}),
    (94, {"C": "Bus", "D": 0.066, "E": 0.0046, "F": 0.0019, "G": "passenger-mile"}),
    (95, {"C": "Source: CO2, CH4, and N2O emissions data for on-road vehicles"}),
]


def main() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Emission Factors Hub"
    for row, cells in ROWS:
        for col, value in cells.items():
            ws[f"{col}{row}"] = value
    wb.save(Path(__file__).with_name("ghg-emission-factors-hub-2025_sample.xlsx"))


if __name__ == "__main__":
    main()

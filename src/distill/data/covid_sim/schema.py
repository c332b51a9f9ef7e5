"""The simulated table's shape in the COVID-19 Open Data v3 schema: the location, the column groups
(age bins, OxCGRT indices, mobility places, search-trend symptoms) and the constant columns."""
from __future__ import annotations

import numpy as np
import pandas as pd

POPULATION = 29_000_000


LOCATION_KEY = "US_SIM"


TARGET = "new_hospitalized_patients"


AGE_BINS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-")


# name -> (OxCGRT maximum, how strongly it follows the policy level)
CONTAINMENT_INDICES = {
    "school_closing": (3, 1.0),
    "workplace_closing": (3, 0.9),
    "cancel_public_events": (2, 1.2),
    "restrictions_on_gatherings": (4, 1.0),
    "public_transport_closing": (2, 0.6),
    "stay_at_home_requirements": (3, 0.8),
    "restrictions_on_internal_movement": (2, 0.7),
    "international_travel_controls": (4, 1.0),
}


ECONOMIC_INDICES = {"income_support": (2, 1.0), "debt_relief": (2, 0.8)}


# name -> (weight on latent mobility, summer amplitude, weekend shift)
MOBILITY = {
    "retail_and_recreation": (1.0, 4.0, 3.0),
    "grocery_and_pharmacy": (0.45, 2.0, 2.0),
    "parks": (0.3, 25.0, 10.0),
    "transit_stations": (1.0, 3.0, 2.0),
    "workplaces": (0.8, -3.0, 12.0),
    "residential": (-0.25, -1.0, -3.0),
}


COVID_SYMPTOMS = (
    "ageusia anosmia dysgeusia cough fever low_grade_fever chills fatigue headache myalgia "
    "sore_throat shortness_of_breath shallow_breathing nasal_congestion rhinorrhea common_cold "
    "pneumonia viral_pneumonia hypoxemia hypoxia upper_respiratory_tract_infection phlegm sputum "
    "night_sweats diarrhea nausea tachypnea wheeze throat_irritation post_nasal_drip"
).split()


# SEARCH_TRENDS, the full list of ~420 symptoms, closes the module.
WITHHELD_SEARCH_TRENDS = 26  # the rarest symptoms, all NaN as below Google's privacy threshold


def index_columns(dates: pd.DatetimeIndex, key: str = LOCATION_KEY) -> dict[str, np.ndarray]:
    days = len(dates)
    text = {
        "place_id": "ChIJSimulatedStateUSSIM0",
        "wikidata_id": "Q0000000",
        "datacommons_id": "geoId/99",
        "country_code": "US",
        "country_name": "United States of America",
        "subregion1_code": "SIM",
        "subregion1_name": "Simulated State",
        "iso_3166_1_alpha_2": "US",
        "iso_3166_1_alpha_3": "USA",
    }
    return {
        "location_key": np.full(days, key, dtype=object),
        "date": np.asarray(dates.strftime("%Y-%m-%d"), dtype=object),
        **{name: np.full(days, value, dtype=object) for name, value in text.items()},
        "aggregation_level": np.ones(days),
    }


def static_columns(days: int, population: int = POPULATION) -> dict[str, np.ndarray]:
    """Demographics, economy, geography and health: constant for a location."""
    age_groups = ("00_09", "10_19", "20_29", "30_39", "40_49", "50_59", "60_69", "70_79", "80_and_older")
    age_shares = (0.14, 0.14, 0.14, 0.14, 0.13, 0.12, 0.10, 0.06, 0.03)
    constants = {
        "population": population,
        "population_male": round(0.497 * population),
        "population_female": population - round(0.497 * population),
        **{f"population_age_{group}": round(share * population)
           for group, share in zip(age_groups, age_shares)},
        "gdp_usd": 1.9e12,
        "gdp_per_capita_usd": round(1.9e12 / population),
        "openstreetmap_id": 999999,
        "latitude": 31.2,
        "longitude": -99.3,
        "elevation_m": 520.0,
        "area_sq_km": 695662.0,
        "life_expectancy": 78.5,
        "smoking_prevalence": 14.7,
        "diabetes_prevalence": 11.4,
        "hospital_beds_per_1000": 2.3,
    }
    return {name: np.full(days, float(value)) for name, value in constants.items()}


SEARCH_TRENDS = """
abdominal_obesity abdominal_pain acne actinic_keratosis acute_bronchitis adrenal_crisis ageusia
alcoholism allergic_conjunctivitis allergy amblyopia amenorrhea amnesia anal_fissure anaphylaxis
anemia angina_pectoris angioedema angular_cheilitis anosmia anxiety aphasia aphonia apnea
arthralgia arthritis ascites asperger_syndrome asphyxia asthma astigmatism ataxia atheroma
attention_deficit_hyperactivity_disorder auditory_hallucination autoimmune_disease
avoidant_personality_disorder back_pain bacterial_vaginosis balance_disorder beaus_lines
bells_palsy biliary_colic binge_eating bleeding bleeding_on_probing blepharospasm bloating
blood_in_stool blurred_vision blushing boil bone_fracture bone_tumor bowel_obstruction
bradycardia braxton_hicks_contractions breakthrough_bleeding breast_pain bronchitis bruise
bruxism bunion burn burning_chest_pain burning_mouth_syndrome candidiasis canker_sore
cardiac_arrest carpal_tunnel_syndrome cataplexy cataract chancre cheilitis chest_pain chills
chorea chronic_pain cirrhosis cleft_lip_and_cleft_palate clouding_of_consciousness
cluster_headache colitis coma common_cold compulsive_behavior compulsive_hoarding confusion
congenital_heart_defect conjunctivitis constipation convulsion cough crackles cramp crepitus
croup cyanosis dandruff delayed_onset_muscle_soreness dementia dentin_hypersensitivity
depersonalization depression dermatitis desquamation developmental_disability diabetes
diabetic_ketoacidosis diarrhea dizziness dry_eye_syndrome dysautonomia dysgeusia dysmenorrhea
dyspareunia dysphagia dysphoria dystonia dysuria ear_pain eczema edema encephalitis
encephalopathy epidermoid_cyst epilepsy epiphora erectile_dysfunction erythema
erythema_chronicum_migrans esophagitis excessive_daytime_sleepiness eye_pain eye_strain
facial_nerve_paralysis facial_swelling fasciculation fatigue fatty_liver_disease
fecal_incontinence fever fibrillation fibrocystic_breast_changes fibromyalgia flatulence floater
focal_seizure folate_deficiency food_craving food_intolerance frequent_urination
gastroesophageal_reflux_disease gastroparesis generalized_anxiety_disorder genital_wart
gingival_recession gingivitis globus_pharyngis goitre gout grandiosity granuloma guilt hair_loss
halitosis hay_fever headache heart_arrhythmia heart_murmur heartburn hematochezia hematoma
hematuria hemolysis hemoptysis hemorrhoids hepatic_encephalopathy hepatitis hepatotoxicity hiccup
hip_pain hives hot_flash hydrocephalus hypercalcaemia hypercapnia hypercholesterolemia
hyperemesis_gravidarum hyperglycemia hyperhidrosis hyperkalemia hyperlipidemia hypermobility
hyperpigmentation hypersomnia hypertension hyperthermia hyperthyroidism hypertriglyceridemia
hypertrophy hyperventilation hypocalcaemia hypochondriasis hypoglycemia hypogonadism hypokalemia
hypomania hyponatremia hypotension hypothyroidism hypoxemia hypoxia impetigo
implantation_bleeding impulsivity indigestion infection inflammation inflammatory_bowel_disease
ingrown_hair insomnia insulin_resistance intermenstrual_bleeding intracranial_pressure
iron_deficiency irregular_menstruation itch jaundice kidney_failure kidney_stone knee_pain
kyphosis lactose_intolerance laryngitis leg_cramps lesion leukorrhea lightheadedness
low_back_pain low_grade_fever lymphedema major_depressive_disorder malabsorption male_infertility
manic_disorder melasma melena meningitis menorrhagia middle_back_pain migraine milium
mitral_insufficiency mood_disorder mood_swing morning_sickness motion_sickness mouth_ulcer
muscle_atrophy muscle_weakness myalgia mydriasis myocardial_infarction myoclonus nasal_congestion
nasal_polyp nausea neck_mass neck_pain neonatal_jaundice nerve_injury neuralgia neutropenia
night_sweats night_terror nocturnal_enuresis nodule nosebleed nystagmus obesity onychorrhexis
oral_candidiasis orthostatic_hypotension osteopenia osteophyte osteoporosis otitis otitis_externa
otitis_media pain palpitations pancreatitis panic_attack papule paranoia paresthesia
pelvic_inflammatory_disease pericarditis periodontal_disease periorbital_puffiness
peripheral_neuropathy perspiration petechia phlegm photodermatitis photophobia photopsia
pleural_effusion pleurisy pneumonia podalgia polycythemia polydipsia polyneuropathy polyuria
poor_posture post_nasal_drip postural_orthostatic_tachycardia_syndrome prediabetes proteinuria
pruritus_ani psychosis ptosis pulmonary_edema pulmonary_hypertension purpura pus pyelonephritis
radiculopathy rectal_pain rectal_prolapse red_eye renal_colic restless_legs_syndrome rheum
rhinitis rhinorrhea rosacea round_ligament_pain rumination scar sciatica scoliosis
seborrheic_dermatitis self_harm sensitivity_to_sound sexual_dysfunction shallow_breathing
sharp_pain shivering shortness_of_breath shyness sinusitis skin_condition skin_rash skin_tag
skin_ulcer sleep_apnea sleep_deprivation sleep_disorder snoring sore_throat spasticity
splenomegaly sputum stomach_rumble strabismus stretch_marks stridor stroke stuttering
subdural_hematoma suicidal_ideation swelling swollen_feet swollen_lymph_nodes syncope tachycardia
tachypnea telangiectasia tenderness testicular_pain throat_irritation thrombocytopenia
thyroid_nodule tic tinnitus tonsillitis toothache tremor trichoptilosis tumor type_2_diabetes
unconsciousness underweight upper_respiratory_tract_infection urethritis urinary_incontinence
urinary_tract_infection urinary_urgency uterine_contraction vaginal_bleeding vaginal_discharge
vaginitis varicose_veins vasculitis ventricular_fibrillation ventricular_tachycardia vertigo
viral_pneumonia visual_acuity vomiting wart water_retention weakness weight_gain wheeze xeroderma
xerostomia yawn
""".split()  # the symptoms of Google's COVID-19 Search Trends symptoms dataset

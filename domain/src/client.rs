//! Clients: the ClientDto profile of API.md §2.2, its partial update, status and validation.

use crate::ids::ClientId;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Longest text in a client's profile (names, addresses, free text), in bytes.
pub const MAX_PROFILE_TEXT_LEN: usize = 512;
/// Most business partners or related individuals one profile may list.
pub const MAX_PROFILE_LIST_LEN: usize = 50;
/// Most bytes a profile may take as JSON.
pub const MAX_PROFILE_JSON_LEN: usize = 64 * 1024;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// `company | individual` (the seed's ClientType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ClientType {
    Company,
    Individual,
}

/// `inactive | active | blocked` (the seed's ClientStatus). The ledger registers clients as
/// active; no command makes one inactive yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ClientStatus {
    Inactive,
    Active,
    /// No new accounts, no money out of its accounts; money in still arrives.
    Blocked,
}

/// The seed's Industry enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Industry {
    AccountingOrConsultingOrLegalServices,
    CharityOrSimilarNonProfitActivities,
    CyberlockersOrRemoteDigitalFileStoring,
    Dating,
    DrugsOrPharmaceutical,
    EmiOrPi,
    ForexOrCfdOrCrowdfunding,
    GamblingOrBettingOrLottery,
    InsuranceOrLendingServices,
    MarketingAndAdvertising,
    OnlineGaming,
    RealEstate,
    Retail,
    SocialNetworks,
    It,
    SubscriptionOnPhysicalGoodDelivery,
    TelecommunicationAndNetwork,
    Telemarketing,
    TobaccoProducts,
    TradeInPreciousMetalsAndJewellery,
    TransportationOrLogistics,
    TravelOrLeisure,
    VirtualAssetServices,
    Other,
}

/// The seed's Turnover enum (its spelling `bellow` kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Turnover {
    Bellow100KEur,
    Between100KAnd500KEur,
    Between500KAnd1000KEur,
    Between1000KAnd5000KEur,
    Above5000KEur,
}

/// The seed's CompanyType enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CompanyType {
    SoleTrader,
    Partnership,
    Private,
    NonProfit,
    CommunityInterest,
    Public,
    InternationalNgo,
}

/// `uk | eea | other`: where pay-ins come from and pay-outs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CountryGroup {
    Uk,
    Eea,
    Other,
}

/// The seed's purposes of opening an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum AccountOpeningPurpose {
    AdministrativeAndOperationalExpenses,
    PaymentsToAndFromContractors,
    DepositsAndSavings,
    PaymentCardProcessing,
    Other,
}

/// AddressDto. `country` is an ISO-3166 alpha-2 code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AddressDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// BusinessPartnerDto. Volumes are EUR amounts: decimals, never floats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = BusinessPartnerDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusinessPartner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incorporation_country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_transfers_quantity_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_transfers_eur_volume_month: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_partnership: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// FundFlowsDto.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FundFlowsDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FundFlows {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_incoming_transfers_quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_incoming_transfers_eur_volume: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_outbound_transfers_quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_outbound_transfers_eur_volume: Option<Decimal>,
}

/// ComplianceEvaluationDto.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ComplianceEvaluationDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComplianceEvaluation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_periodicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_limits: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
}

/// A related individual's identity document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IdentityDocumentDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<NaiveDate>,
    /// `passport`, … (the seed does not list the values).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_date: Option<NaiveDate>,
}

/// RelatedIndividualInfoDto (its 19 fields). Ownerships are percentages: decimals 0–100.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RelatedIndividualInfoDto))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelatedIndividual {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_ubo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_shareholder: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_director: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_representative: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_pep: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizenship_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<IdentityDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficial_owner_pep_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usa_tax_residency: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub giin_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residential_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_ownership: Option<Decimal>,
}

/// Deserializes a present field (null included) as `Some`, so a patch tells "set to null"
/// (`Some(None)`) from "leave alone" (absent: `None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Declares the profile and its patch from one field list, so the two never drift apart.
macro_rules! client_profile {
    (
        required { $( $(#[$rmeta:meta])* $req:ident : $rty:ty, )* }
        optional { $( $(#[$ometa:meta])* $opt:ident : $oty:ty, )* }
    ) => {
        /// Every ClientDto field a command sets (id, status and `created` are the ledger's).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct ClientProfile {
            $( $(#[$rmeta])* pub $req: $rty, )*
            $(
                $(#[$ometa])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $opt: Option<$oty>,
            )*
        }

        /// A partial update: an absent field is left alone; for an optional field, `Some(None)`
        /// (JSON null) clears it. Lists are replaced whole.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct ClientPatch {
            $(
                $(#[$rmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $req: Option<$rty>,
            )*
            $(
                $(#[$ometa])*
                #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
                pub $opt: Option<Option<$oty>>,
            )*
        }

        impl ClientProfile {
            /// A profile with the required fields and nothing else.
            pub fn new($( $req: $rty ),*) -> ClientProfile {
                ClientProfile { $( $req, )* $( $opt: None, )* }
            }
        }

        impl ClientPatch {
            /// True when the patch changes nothing.
            pub fn is_empty(&self) -> bool {
                true $( && self.$req.is_none() )* $( && self.$opt.is_none() )*
            }

            /// The profile with this patch applied.
            pub fn applied_to(&self, profile: &ClientProfile) -> ClientProfile {
                let mut next = profile.clone();
                $( if let Some(value) = &self.$req { next.$req = value.clone(); } )*
                $( if let Some(value) = &self.$opt { next.$opt = value.clone(); } )*
                next
            }
        }
    };
}

client_profile! {
    required {
        #[serde(rename = "type")]
        client_type: ClientType,
        legal_name: String,
    }
    optional {
        editor_user_id: Uuid,
        onboarding_id: Uuid,
        address: Address,
        phone_number: String,
        email: String,
        risk_level: i32,
        is_default_compliant: bool,
        company_registration_date: NaiveDate,
        country_of_registration: String,
        tax_residency_country: String,
        registration_number: String,
        industry: Industry,
        industry_other: String,
        turnover: Turnover,
        web_site: String,
        tax_number: String,
        pay_ins_countries: Vec<CountryGroup>,
        pay_outs_countries: Vec<CountryGroup>,
        #[serde(rename = "isEngagedGambling10K")]
        is_engaged_gambling_10k: bool,
        is_foundation: bool,
        is_publicly_listed: bool,
        is_relevant_activity: bool,
        purposes_account_opening: Vec<AccountOpeningPurpose>,
        purposes_account_opening_other: String,
        business_partners: Vec<BusinessPartner>,
        fund_flows: FundFlows,
        compliance_evaluation: ComplianceEvaluation,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        custom_options: serde_json::Value,
        related_individuals: Vec<RelatedIndividual>,
        company_type: CompanyType,
    }
}

/// A client as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: ClientId,
    pub profile: ClientProfile,
    pub status: ClientStatus,
    /// Why the client was blocked (while it is).
    pub block_reason: Option<String>,
    /// Revision of the last event on the client's stream (`client-{id}`).
    pub revision: u64,
}

/// Checks a whole profile, naming the first field that is wrong (by its JSON path).
pub fn validate_profile(profile: &ClientProfile) -> Result<(), String> {
    if profile.legal_name.trim().is_empty() {
        return Err("legalName is empty".into());
    }
    if profile.company_type.is_some() && profile.client_type == ClientType::Individual {
        return Err("companyType is only for company clients".into());
    }
    if let Some(email) = &profile.email {
        check_email("email", email)?;
    }
    if let Some(phone) = &profile.phone_number {
        check_phone("phoneNumber", phone)?;
    }
    if let Some(risk) = profile.risk_level
        && !(0..=100).contains(&risk)
    {
        return Err(format!("riskLevel must be 0 to 100, not {risk}"));
    }
    for (field, code) in [
        ("countryOfRegistration", &profile.country_of_registration),
        ("taxResidencyCountry", &profile.tax_residency_country),
    ] {
        if let Some(code) = code {
            check_country(field, code)?;
        }
    }
    if let Some(address) = &profile.address {
        check_address("address", address)?;
    }
    if let Some(custom) = &profile.custom_options
        && !(custom.is_object() || custom.is_null())
    {
        return Err("customOptions must be a JSON object".into());
    }
    if let Some(flows) = &profile.fund_flows {
        for (field, volume) in [
            (
                "fundFlows.plannedIncomingTransfersEurVolume",
                flows.planned_incoming_transfers_eur_volume,
            ),
            (
                "fundFlows.plannedOutboundTransfersEurVolume",
                flows.planned_outbound_transfers_eur_volume,
            ),
        ] {
            check_volume(field, volume)?;
        }
    }
    let partners = profile.business_partners.as_deref().unwrap_or_default();
    if partners.len() > MAX_PROFILE_LIST_LEN {
        return Err(format!(
            "businessPartners lists more than {MAX_PROFILE_LIST_LEN}"
        ));
    }
    for (i, partner) in partners.iter().enumerate() {
        check_volume(
            &format!("businessPartners[{i}].plannedTransfersEurVolumeMonth"),
            partner.planned_transfers_eur_volume_month,
        )?;
        if let Some(code) = &partner.incorporation_country_code {
            check_country(
                &format!("businessPartners[{i}].incorporationCountryCode"),
                code,
            )?;
        }
    }
    let individuals = profile.related_individuals.as_deref().unwrap_or_default();
    if individuals.len() > MAX_PROFILE_LIST_LEN {
        return Err(format!(
            "relatedIndividuals lists more than {MAX_PROFILE_LIST_LEN}"
        ));
    }
    for (i, person) in individuals.iter().enumerate() {
        let at = |field: &str| format!("relatedIndividuals[{i}].{field}");
        if let Some(email) = &person.email {
            check_email(&at("email"), email)?;
        }
        for (field, code) in [
            ("residenceCountry", &person.residence_country),
            ("citizenshipCountry", &person.citizenship_country),
        ] {
            if let Some(code) = code {
                check_country(&at(field), code)?;
            }
        }
        for (field, share) in [
            ("ownership", person.ownership),
            ("percentageOwnership", person.percentage_ownership),
        ] {
            if let Some(share) = share
                && (share.is_sign_negative() && !share.is_zero() || share > Decimal::ONE_HUNDRED)
            {
                return Err(format!("{} must be 0 to 100, not {share}", at(field)));
            }
        }
        if let Some(address) = &person.residential_address {
            check_address(&at("residentialAddress"), address)?;
        }
    }
    let json = serde_json::to_value(profile).map_err(|e| format!("the profile: {e}"))?;
    if json.to_string().len() > MAX_PROFILE_JSON_LEN {
        return Err(format!(
            "the profile is longer than {MAX_PROFILE_JSON_LEN} bytes as JSON"
        ));
    }
    check_texts("", &json)
}

/// Every string anywhere in the profile: bounded, and without NUL (PostgreSQL text cannot hold
/// one, and a stored NUL would wedge every reader of the event).
fn check_texts(path: &str, value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::String(text) => {
            if text.len() > MAX_PROFILE_TEXT_LEN {
                return Err(format!(
                    "{path} is longer than {MAX_PROFILE_TEXT_LEN} bytes"
                ));
            }
            if text.contains('\0') {
                return Err(format!("{path} contains a NUL character"));
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_texts(&format!("{path}[{i}]"), item)),
        serde_json::Value::Object(fields) => fields.iter().try_for_each(|(name, item)| {
            if name.contains('\0') {
                return Err(format!("{path} has a key with a NUL character"));
            }
            let inner = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            check_texts(&inner, item)
        }),
        _ => Ok(()),
    }
}

fn check_address(path: &str, address: &Address) -> Result<(), String> {
    match &address.country {
        Some(code) => check_country(&format!("{path}.country"), code),
        None => Ok(()),
    }
}

/// An ISO-3166 alpha-2 country code: two upper-case ASCII letters.
fn check_country(field: &str, code: &str) -> Result<(), String> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "{field} must be an ISO-3166 alpha-2 code (two upper-case letters), not {code:?}"
        ))
    }
}

/// A sane address: one `@`, a non-empty local part, a dotted domain, no spaces or controls.
fn check_email(field: &str, email: &str) -> Result<(), String> {
    let bad = || Err(format!("{field} is not an e-mail address"));
    if email.len() > MAX_EMAIL_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad();
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return bad();
    }
    Ok(())
}

/// An optional `+`, then 4 to 20 digits, optionally grouped by spaces, dashes, dots or
/// parentheses.
fn check_phone(field: &str, phone: &str) -> Result<(), String> {
    let body = phone.strip_prefix('+').unwrap_or(phone);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    if allowed && (4..=20).contains(&digits) && phone.len() <= 32 {
        Ok(())
    } else {
        Err(format!("{field} is not a phone number"))
    }
}

/// A planned EUR volume: not negative, at most cents, below 10^15.
fn check_volume(field: &str, volume: Option<Decimal>) -> Result<(), String> {
    let Some(volume) = volume else {
        return Ok(());
    };
    if volume.is_sign_negative() && !volume.is_zero() {
        return Err(format!("{field} is negative"));
    }
    if volume.normalize().scale() > 2 || volume >= Decimal::from(1_000_000_000_000_000u64) {
        return Err(format!("{field} is not a EUR amount"));
    }
    Ok(())
}

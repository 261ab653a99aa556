//! Genesys Cloud regions: AWS region code and domain.
//!
//! The API of a region is always `https://api.<domain>` and its login service
//! `https://login.<domain>`; a host such as `us-east-1.mypurecloud.com` does not exist.

/// One region of Genesys Cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// AWS region code, e.g. `us-east-1`.
    pub code: &'static str,
    /// Domain, e.g. `mypurecloud.com`.
    pub domain: &'static str,
    /// A remark for the listing, e.g. FedRAMP.
    pub note: &'static str,
}

/// Every region, in the order Genesys lists them.
pub const REGIONS: &[Region] = &[
    region("us-east-1", "mypurecloud.com", ""),
    region("us-east-2", "use2.us-gov-pure.cloud", "FedRAMP"),
    region("us-west-2", "usw2.pure.cloud", ""),
    region("ca-central-1", "cac1.pure.cloud", ""),
    region("sa-east-1", "sae1.pure.cloud", ""),
    region("mx-central-1", "mxc1.pure.cloud", ""),
    region("eu-west-1", "mypurecloud.ie", ""),
    region("eu-west-2", "euw2.pure.cloud", ""),
    region("eu-central-1", "mypurecloud.de", ""),
    region("eu-central-2", "euc2.pure.cloud", ""),
    region("eusc-de-east-1", "edee1.eusc-pure.cloud", ""),
    region("me-central-1", "mec1.pure.cloud", ""),
    region("ap-south-1", "aps1.pure.cloud", ""),
    region("ap-southeast-1", "apse1.pure.cloud", ""),
    region("ap-southeast-2", "mypurecloud.com.au", ""),
    region("ap-northeast-1", "mypurecloud.jp", ""),
    region("ap-northeast-2", "apne2.pure.cloud", ""),
    region("ap-northeast-3", "apne3.pure.cloud", ""),
];

const fn region(code: &'static str, domain: &'static str, note: &'static str) -> Region {
    Region { code, domain, note }
}

impl Region {
    /// Finds a region by AWS code (`us-east-1` or `us_east_1`, any case) or by domain
    /// (`mypurecloud.ie`, also with an `api.`/`login.` prefix or a scheme).
    pub fn find(name: &str) -> Option<Region> {
        let name = name.trim().to_ascii_lowercase();
        let code = name.replace('_', "-");
        let host = name
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .trim_start_matches("api.")
            .trim_start_matches("login.");
        REGIONS.iter().copied().find(|r| r.code == code || r.domain == host)
    }

    /// `https://api.<domain>`.
    pub fn api_base(&self) -> String {
        format!("https://api.{}", self.domain)
    }

    /// `https://login.<domain>`.
    pub fn login_base(&self) -> String {
        format!("https://login.{}", self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_regions_by_code_or_domain() {
        assert_eq!(Region::find("eu_central_2").unwrap().domain, "euc2.pure.cloud");
        assert_eq!(Region::find("US-EAST-1").unwrap().domain, "mypurecloud.com");
        assert_eq!(Region::find("mypurecloud.ie").unwrap().code, "eu-west-1");
        assert_eq!(Region::find("api.mypurecloud.com.au").unwrap().code, "ap-southeast-2");
        assert_eq!(
            Region::find("https://login.mypurecloud.de/").unwrap().code,
            "eu-central-1"
        );
        assert_eq!(Region::find("us-east-1.mypurecloud.com"), None);
        assert_eq!(REGIONS.len(), 18);
    }
}

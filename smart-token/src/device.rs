//! The device authorization grant (RFC 8628): a device without a browser gets a device
//! code and a short user code, the user approves on another screen, and the device polls.

use fhir_scopes::ScopeSet;

use crate::store::{DeviceRecord, DeviceStatus};
use crate::{
    Approval, AuthorizationServer, Client, DeviceAuthorization, Error, Grant, GrantType,
    SecretHash, TokenRequest, TokenResponse, secret,
};

/// RFC 8628 §6.1: consonants only, no vowels (no words) and no look-alikes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Normalises what a user typed: upper case, without dashes and spaces.
pub fn normalize_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_user_code() -> Result<String, Error> {
    // 8 characters of 20: about 34.5 bits, against brute force within the 10-minute life
    // (RFC 8628 §5.1); rejection sampling keeps the distribution uniform.
    let mut code = String::with_capacity(8);
    while code.len() < 8 {
        for byte in secret::random_bytes::<16>()? {
            if byte < 240 && code.len() < 8 {
                let index = usize::from(byte) % USER_CODE_ALPHABET.len();
                code.push(char::from(*USER_CODE_ALPHABET.get(index).unwrap_or(&b'B')));
            }
        }
    }
    Ok(code)
}

impl AuthorizationServer {
    /// The device authorization endpoint (RFC 8628 §3.1): the client authenticates as at
    /// the token endpoint and names its scopes.
    pub fn device_authorization(
        &self,
        request: &TokenRequest,
    ) -> Result<DeviceAuthorization, Error> {
        let client = self.authenticate_client(request)?;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(Error::UnauthorizedClient(
                "use the device authorization grant",
            ));
        }
        let requested = ScopeSet::parse(request.scope.as_deref().unwrap_or_default())
            .map_err(|e| Error::ScopeNotAllowed(e.to_string()))?;
        let scopes = ScopeSet::negotiate(&requested, client.allowed_scopes(), None);
        let now = self.issuer.clock().now();
        let device_code = secret::random_token()?;
        // A collision of user codes is rare; try a few times.
        let mut attempts = 0;
        let user_code = loop {
            let user_code = new_user_code()?;
            let record = DeviceRecord {
                client_id: client.id().to_owned(),
                scopes: scopes.clone(),
                user_code: user_code.clone(),
                expires_at: now.saturating_add(i64::from(self.device_lifetime)),
                interval: i64::from(self.device_interval),
                last_poll: None,
                status: DeviceStatus::Pending,
            };
            match self
                .devices
                .insert(SecretHash::of(&device_code), record, now)
            {
                Ok(()) => break user_code,
                Err(error) if attempts >= 3 => return Err(error),
                Err(_) => attempts += 1,
            }
        };
        let display = format!(
            "{}-{}",
            user_code.get(..4).unwrap_or_default(),
            user_code.get(4..).unwrap_or_default()
        );
        Ok(DeviceAuthorization {
            device_code,
            verification_uri_complete: format!("{}?user_code={display}", self.verification_uri),
            verification_uri: self.verification_uri.clone(),
            user_code: display,
            expires_in: self.device_lifetime,
            interval: self.device_interval,
        })
    }

    /// What a user code asks for: the client and scopes to show the user. Unknown or
    /// expired codes are [`Error::InvalidGrant`].
    pub fn device_request(&self, user_code: &str) -> Result<(String, ScopeSet), Error> {
        let now = self.issuer.clock().now();
        match self
            .devices
            .by_user_code(&normalize_user_code(user_code), now)?
        {
            Some((_, record)) if record.status == DeviceStatus::Pending => {
                Ok((record.client_id, record.scopes))
            }
            _ => Err(Error::InvalidGrant("the user code is invalid or expired")),
        }
    }

    /// The user approved the device: requested ∩ what the user grants.
    pub fn approve_device(&self, user_code: &str, approval: Approval) -> Result<(), Error> {
        self.decide_device(user_code, Some(approval))
    }

    /// The user denied the device.
    pub fn deny_device(&self, user_code: &str) -> Result<(), Error> {
        self.decide_device(user_code, None)
    }

    fn decide_device(&self, user_code: &str, approval: Option<Approval>) -> Result<(), Error> {
        let now = self.issuer.clock().now();
        let (hash, record) = self
            .devices
            .by_user_code(&normalize_user_code(user_code), now)?
            .filter(|(_, record)| record.status == DeviceStatus::Pending)
            .ok_or(Error::InvalidGrant("the user code is invalid or expired"))?;
        let status = match approval {
            None => DeviceStatus::Denied,
            Some(approval) => DeviceStatus::Approved(Box::new(Grant {
                client_id: record.client_id.clone(),
                subject: Some(approval.subject),
                scopes: ScopeSet::negotiate(
                    &record.scopes,
                    &record.scopes,
                    approval.scopes.as_ref(),
                ),
                launch: approval.launch,
                claims: approval.claims,
            })),
        };
        self.devices
            .update(hash, &mut |record| record.status = status.clone())?;
        Ok(())
    }

    /// The token endpoint's device-code grant: `authorization_pending` until the user
    /// decides, `slow_down` (and 5 s more interval) when polled too fast, then the tokens,
    /// once.
    pub(crate) fn device_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Error> {
        let device_code = request
            .device_code
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("`device_code` is required".into()))?;
        let hash = SecretHash::of(device_code);
        let now = self.issuer.clock().now();
        let mut too_fast = false;
        let before = self.devices.update(hash, &mut |record| {
            too_fast = record
                .last_poll
                .is_some_and(|last| now.saturating_sub(last) < record.interval);
            if too_fast {
                record.interval = record.interval.saturating_add(5);
            }
            record.last_poll = Some(now);
        })?;
        let record = before.ok_or(Error::InvalidGrant("the device code is invalid"))?;
        if record.client_id != client.id() {
            return Err(Error::InvalidGrant(
                "the device code was issued to another client",
            ));
        }
        if record.expires_at <= now {
            self.devices.remove(hash)?;
            return Err(Error::ExpiredDeviceCode);
        }
        if too_fast {
            return Err(Error::SlowDown);
        }
        match record.status {
            DeviceStatus::Pending => Err(Error::AuthorizationPending),
            DeviceStatus::Denied => {
                self.devices.remove(hash)?;
                Err(Error::AccessDenied)
            }
            DeviceStatus::Approved(grant) => {
                self.devices.remove(hash)?;
                Ok(self.issue(client, &grant, None, None)?.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet() {
        let code = new_user_code().unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(normalize_user_code("bdwp-hqpk"), "BDWPHQPK");
        assert_eq!(normalize_user_code("BDWP HQPK"), "BDWPHQPK");
    }
}
